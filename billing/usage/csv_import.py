"""CSV import of chat events (back-fills, migrations): the API's fields, rules and idempotency.

The file is read as a stream, `MAX_BATCH` rows at a time, each batch stored by `events_ingest`:
memory stays the same whatever the size of the file. Refused rows are handed to a callback with
their line number as they come, never collected.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from billing.catalog.tariffs import TariffBook
from billing.errors import BillingError
from billing.usage.intake import FIELDS, loads_json
from billing.usage.store import events_ingest
from billing.usage.validate import MAX_BATCH

REQUIRED = ("id", "customer", "tariff", "actor", "occurred_at")


class InvalidCsv(BillingError):
    """The file as a whole cannot be read (its header); nothing was imported."""


@dataclass
class ImportSummary:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    late: int = 0
    unbilled: int = 0
    # Why the import stopped before the end of the file (the rows before are imported), if it did.
    stopped: str | None = None


RefusedRow = Callable[[int, str | None, dict[str, str]], None]


def _reader(lines: Iterable[str]) -> csv.DictReader:
    lines = iter(lines)
    header = next(lines, "")
    delimiter = ";" if header.count(";") > header.count(",") else ","
    # The header line goes back in front of the others.
    reader = csv.DictReader(_chain(header, lines), delimiter=delimiter)
    columns = [name.strip() for name in (reader.fieldnames or [])]
    if columns and columns[0].startswith("\ufeff"):
        columns[0] = columns[0][1:]
    missing = [name for name in REQUIRED if name not in columns]
    unknown = [name for name in columns if name not in FIELDS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(_("missing column(s) %(names)s") % {"names": ", ".join(missing)})
        if unknown:
            problems.append(_("unknown column(s) %(names)s") % {"names": ", ".join(unknown)})
        raise InvalidCsv(
            _("The header line %(header)r: %(problems)s. The columns are %(columns)s.")
            % {
                "header": header.strip()[:200],
                "problems": "; ".join(problems),
                "columns": ", ".join(FIELDS),
            }
        )
    reader.fieldnames = columns
    return reader


def _stop_reason(error: Exception, line: int) -> str:
    if isinstance(error, UnicodeDecodeError):
        reason = _("the file is not UTF-8 text")
    else:
        reason = str(error)
    return _(
        "line %(line)d: %(reason)s. The import stopped there; the rows before it are imported."
    ) % {"line": line, "reason": reason}


def utf8_lines(binary) -> Iterator[str]:
    """The text lines of a binary file, each decoded on its own: a byte that is not UTF-8
    raises UnicodeDecodeError on its own line (not a few kilobytes early), and a BOM is dropped."""
    for number, raw in enumerate(binary):
        line = raw.decode("utf-8")
        yield line.removeprefix("\ufeff") if number == 0 else line


def _chain(first: str, rest):
    yield first
    yield from rest


def _event(row: dict) -> tuple[dict, dict[str, str]]:
    """The API's event from a CSV row, and the errors only a CSV row can have."""
    errors: dict[str, str] = {}
    if None in row:  # more values than columns
        errors["row"] = _("%(count)d values more than the header's columns.") % {
            "count": len(row[None])
        }
    event = {}
    for name in FIELDS:
        value = row.get(name)
        if value is None:
            continue  # fewer values than columns: required ones are reported missing
        if name in ("contact", "meta") and value == "":
            continue
        event[name] = value
    if "meta" in event:
        try:
            event["meta"] = loads_json(event["meta"])
        except ValueError:
            errors["meta"] = _("%(value)r is not JSON.") % {"value": event["meta"][:60]}
    return event, errors


def events_import_csv(
    *,
    lines: Iterable[str],
    source: str,
    on_refused: RefusedRow,
    on_batch: Callable[[ImportSummary], None] | None = None,
    batch_size: int = MAX_BATCH,
) -> ImportSummary:
    """Import chat events from CSV text lines (a header line, then one row per chat).

    Raises InvalidCsv if the header is wrong (nothing imported). Every refused row is passed to
    `on_refused(line, id, errors)`; `on_batch(summary)` follows each stored batch.
    """
    reader = _reader(lines)
    summary = ImportSummary()
    book = TariffBook()
    batch: list[dict] = []
    line_numbers: list[int] = []

    refused: list[tuple[int, str | None, dict[str, str]]] = []  # this batch's, in line order

    def flush():
        if batch:
            result = events_ingest(source=source, events=batch, book=book)
            summary.accepted += result.accepted
            summary.duplicates += result.duplicates
            summary.late += result.late
            summary.unbilled += result.unbilled
            for rejection in result.rejected:
                refused.append((line_numbers[rejection.index], rejection.id, rejection.errors))
        summary.refused += len(refused)
        for line, event_id, errors in sorted(refused, key=lambda item: item[0]):
            on_refused(line, event_id, errors)
        batch.clear()
        line_numbers.clear()
        refused.clear()
        if on_batch:
            on_batch(summary)

    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as error:
            summary.stopped = _stop_reason(error, reader.line_num + 1)
            break
        # A row ends on reader.line_num; it starts as many lines before as it has line breaks
        # inside quoted values (blank lines before it are skipped, not counted).
        values = [value for value in row.values() if isinstance(value, str)]
        extra = row.get(None) or []
        line = reader.line_num - sum(value.count("\n") for value in [*values, *extra])
        summary.rows += 1
        event, errors = _event(row)
        if errors:
            event_id = event.get("id")
            refused.append((line, event_id if isinstance(event_id, str) else None, errors))
        else:
            batch.append(event)
            line_numbers.append(line)
        if len(batch) + len(refused) >= batch_size:
            flush()
    if batch or refused:
        flush()
    return summary
