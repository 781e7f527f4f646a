"""Both catalogues are complete and compiled: the portal needs no gettext on the machine."""

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.utils import translation
from django.utils.translation import gettext as _

LOCALE = Path(__file__).resolve().parents[1] / "locale"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_catalogue_is_complete_and_compiled(language):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    assert len(po) > 100
    assert po.untranslated_entries() == []
    assert po.fuzzy_entries() == []
    mo_path = LOCALE / language / "LC_MESSAGES" / "django.mo"
    compiled = gettext.GNUTranslations(mo_path.open("rb"))
    for entry in po.translated_entries():
        if entry.msgid_plural:
            assert compiled.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
        elif entry.msgctxt:
            assert compiled.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr
        else:
            assert compiled.gettext(entry.msgid) == entry.msgstr, entry.msgid


def test_messages_in_french_and_english():
    values = {"tariff": "quote_request", "actor": "bot"}
    with translation.override("fr"):
        assert _("%(tariff)s is not offered for %(actor)s") % values == (
            "quote_request n'est pas proposé pour bot"
        )
    with translation.override("en"):
        assert _("%(tariff)s is not offered for %(actor)s") % values == (
            "quote_request is not offered for bot"
        )


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="extracting strings needs gettext")
def test_every_translatable_string_is_in_both_catalogues(tmp_path):
    """Extract the strings of a copy of the code (as `make messages` does): nothing new, nothing
    fuzzy, so no string of the code is shown untranslated."""
    root = LOCALE.parent
    for name in ("billing", "customers", "config", "templates", "locale"):
        shutil.copytree(root / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "manage.py", tmp_path / "manage.py")
    env = {**os.environ, "ENV_FILE": os.devnull, "DEBUG": "1", "SECRET_KEY": "x"}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "fr",
            "-l",
            "en",
            "--no-obsolete",
            "--ignore",
            "var/*",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    for language in ("fr", "en"):
        po = polib.pofile(str(tmp_path / "locale" / language / "LC_MESSAGES" / "django.po"))
        missing = [entry.msgid for entry in po.untranslated_entries() + po.fuzzy_entries()]
        assert missing == [], f"{language}: run `make messages` and translate {missing}"
