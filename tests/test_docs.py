"""The project's documents stand on their own in a clone: every relative link and every path they
name resolves to a file of the repository, and the billing rules' tables are the ones the
migration loads."""

import importlib
import re
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    path.relative_to(ROOT)
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("bench/*.md")]
)
NOT_IN_A_CLONE = {".venv", "var", ".git"}  # made on a machine, never committed

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A code span that names a file: a path with a directory and a file name with an extension
# (`billing/pricing.py`), a Markdown file, or anything going up a directory (`../x`).
NAMED_FILE = re.compile(r"^(?:\.\./.*|[\w.-]+(?:/[\w.-]+)*\.md|[\w.-]+(?:/[\w.-]+)+\.\w+)$")
GENERATED = re.compile(r"^var/")  # made by running the project (`var/chatpoints.sqlite3`)


def prose(document: Path) -> str:
    return FENCE.sub("", (ROOT / document).read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(document), re.MULTILINE)
    return {slug(heading) for heading in headings}


def problem(document: Path, target: str) -> str | None:
    """Why `target`, named in `document`, does not lead to a file of the repository (or None)."""
    path, _, anchor = target.partition("#")
    resolved = (ROOT / document).parent / path if path else ROOT / document
    try:
        inside = resolved.resolve().relative_to(ROOT)
    except ValueError:
        return "outside the repository (a clone does not have it)"
    if inside.parts and inside.parts[0] in NOT_IN_A_CLONE:
        return "not committed"
    if not resolved.exists():
        return "no such file"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(inside):
        return f"no heading #{anchor} in {inside}"
    return None


@pytest.mark.parametrize("document", DOCUMENTS, ids=str)
def test_every_relative_link_resolves_in_the_repository(document):
    broken = []
    for target in LINK.findall(prose(document)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        reason = problem(document, target)
        if reason:
            broken.append(f"{target}: {reason}")
    assert not broken, f"{document}: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=str)
def test_every_file_named_in_code_resolves_in_the_repository(document):
    """`../shared/DOMAIN.md` or `billing/pricing.py`: a path a reader will look for."""
    broken = []
    for span in CODE_SPAN.findall(prose(document)):
        if not NAMED_FILE.match(span) or GENERATED.match(span):
            continue
        # Paths in prose are given from the repository's root, or from the document's folder.
        if problem(Path("README.md"), span) and problem(document, span):
            broken.append(f"{span}: {problem(Path('README.md'), span)}")
    assert not broken, f"{document}: {broken}"


def test_the_documents_are_found():
    assert {"README.md", "docs/billing-rules.md", "docs/design.md"} <= {
        str(document) for document in DOCUMENTS
    }


# --- The billing rules' tables are the migration's ------------------------------------------


def table_after(heading: str) -> list[list[str]]:
    text = prose(Path("docs/billing-rules.md"))
    section = text[text.index(heading) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not re.match(r"^\|[-:| ]+\|$", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def euros(cell: str) -> Decimal | None:
    return None if cell == "custom" else Decimal(cell.lstrip("€").replace(",", ""))


def whole(cell: str) -> int | None:
    return None if cell in ("—", "custom") else int(cell.replace(",", ""))


def loaded():
    return importlib.import_module("billing.migrations.0002_plans_and_tariffs")


def test_the_plans_table_is_what_the_migration_loads():
    documented = [
        (code, fr, en, euros(fee), whole(points), euros(price))
        for code, fr, en, fee, points, price in table_after("## Plans")
    ]
    assert documented == [
        (code, fr, en, fee, included, price if price is None else price.normalize())
        for code, fr, en, fee, included, price in loaded().PLANS
    ]


def test_the_tariff_table_is_what_the_migration_loads():
    documented = [
        (code, category, fr, en, whole(agent), whole(bot), whole(team))
        for code, category, fr, en, agent, bot, team in table_after("## Tariffs")
    ]
    assert documented == [
        (code, category, fr, en, agent, bot, team)
        for code, category, _unit, fr, en, agent, bot, team in loaded().TARIFFS
    ]
