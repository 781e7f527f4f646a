"""The HTTP API of the chat platform's integrations: POST /api/v1/chat-events (django-ninja).

The body is parsed here rather than by a ninja schema so that a batch is refused as a whole only
when it is not such a document (400) or is too big (413); otherwise every event is judged on its
own, and the valid ones are stored (billing.ingest.events_ingest).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from .ingest import MAX_BATCH, MAX_META_BYTES, EventIn, events_ingest, loads_json
from .tokens import api_token_authenticate

# 1,000 events with 4 KB of meta each, and their fields, even written with every non-ASCII
# character escaped as \uXXXX (up to 3 times its UTF-8 size): a bigger body is refused unread.
MAX_BODY_BYTES = MAX_BATCH * 4 * MAX_META_BYTES


class TokenAuth(HttpBearer):
    openapi_description = "A token created in the admin or with `manage.py create_api_token NAME`."

    def authenticate(self, request, token):
        return api_token_authenticate(token)


api = NinjaAPI(
    title="Chatpoints API",
    version="1",
    description=(
        "The chat platform reports each completed chat once; billing prices it with the tariff "
        "in force on its day. Retrying a batch is always safe: an event is stored once per id."
    ),
    urls_namespace="api-v1",
    auth=TokenAuth(),
)


class Error(Schema):
    detail: str


class RejectionOut(Schema):
    index: int
    id: str | None
    errors: dict[str, str]


class IngestOut(Schema):
    accepted: int
    duplicates: int
    rejected: list[RejectionOut]


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    response = api.create_response(
        request,
        {"detail": _("A valid API token is required: Authorization: Bearer <token>.")},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


def _batch_schema() -> dict:
    event = EventIn.model_json_schema()
    event.pop("title", None)
    return {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {"type": "array", "maxItems": MAX_BATCH, "items": event},
        },
    }


@api.post(
    "/chat-events",
    response={200: IngestOut, 400: Error, 401: Error, 413: Error, 415: Error},
    summary="Report completed chats",
    description=(
        f"Up to {MAX_BATCH} events per call. Each valid event is stored, priced at the tariff in "
        "force on its day, even when others are refused; `rejected` lists each refused event "
        "with a message per field. An id already received with the same content counts as a "
        "duplicate; with other content it is refused."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _batch_schema()}},
        }
    },
)
def chat_events_post(request: HttpRequest):
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return Status(
            413,
            {
                "detail": _("The body has %(size)d bytes: a batch holds at most %(max)d bytes.")
                % {"size": length, "max": MAX_BODY_BYTES}
            },
        )
    if request.content_type != "application/json":
        return Status(
            415,
            {
                "detail": _(
                    "Send the body as JSON, with Content-Type: application/json (not %(type)s)."
                )
                % {"type": request.content_type or "-"}
            },
        )
    shape = _('The body is a JSON object {"events": [ … ]}, each event a JSON object.')
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return Status(
            413,
            {
                "detail": _("The body has more than %(max)d bytes: the most a batch holds.")
                % {"max": MAX_BODY_BYTES}
            },
        )
    try:
        document = loads_json(body)
    except (ValueError, UnicodeDecodeError) as error:
        return Status(
            400, {"detail": _("The body is not JSON (%(error)s).") % {"error": error} + " " + shape}
        )
    if not isinstance(document, dict) or set(document) != {"events"}:
        return Status(400, {"detail": shape})
    events = document["events"]
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        return Status(400, {"detail": shape})
    if len(events) > MAX_BATCH:
        return Status(
            413,
            {
                "detail": _("%(count)d events: a batch holds at most %(max)d; send them in parts.")
                % {"count": len(events), "max": MAX_BATCH}
            },
        )
    result = events_ingest(source=request.auth.source, events=events)
    return Status(
        200,
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [
                {"index": item.index, "id": item.id, "errors": item.errors}
                for item in result.rejected
            ],
        },
    )
