"""The Celery app: `celery -A config worker` runs the tasks, `celery -A config beat` the schedule.

Configured from Django's settings (the CELERY_* names, config/settings.py). Without a
CELERY_BROKER_URL every task runs eagerly in the calling process (as pretix does), so `make run`
and the unit tests need no broker.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("chatpoints")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["billing"])


def enqueue(task_name: str, **kwargs) -> None:
    """Run the task `task_name` once the current transaction commits (at once outside one).

    Services call tasks by name through this (tasks import services, never the other way), so a
    worker never reads a row the request has not committed yet; without a broker the task runs
    eagerly, in this process, at the same moment."""
    from django.db import transaction

    transaction.on_commit(lambda: app.tasks[task_name].apply_async(kwargs=kwargs))
