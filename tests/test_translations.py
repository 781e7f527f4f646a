"""Both catalogues are complete and compiled: the portal needs no gettext on the machine."""

import gettext
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
