"""A chat event as its sender writes it: its fields (EventIn, the API's schema), the API's JSON
read (loads_json; events_decode, the common case in one pass) and `meta` as the compact JSON that
is stored. billing.usage.validate judges what is read here."""

from __future__ import annotations

import json
import math
import types
from collections.abc import Iterable
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import msgspec
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field

from billing.models import Actor


# `meta` as compact JSON: what json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
# allow_nan=False).encode() writes, its C encoder made once rather than at each call (no circular
# check: a value read from JSON cannot hold itself). NaN and infinities raise ValueError.
def _no_default(value):
    raise TypeError(f"{type(value).__name__} is not JSON")


_COMPACT_ENCODE = json.encoder.c_make_encoder(
    None, _no_default, json.encoder.encode_basestring, None, ":", ",", False, False, False
)


class EventIn(BaseModel):
    """One completed chat as the sender reports it (the API body and the CSV columns)."""

    model_config = ConfigDict(extra="forbid", title="ChatEventIn")

    id: str = Field(
        min_length=1, max_length=100, description="The sender's id of the chat, unique per source."
    )
    customer: str = Field(min_length=1, max_length=64, description="The customer's code.")
    tariff: str = Field(min_length=1, max_length=64, description="The tariff's code.")
    actor: str = Field(
        description="Who completed the chat.", json_schema_extra={"enum": list(Actor.values)}
    )
    contact: str | None = Field(
        default=None,
        max_length=200,
        description="The contact's id; required for tariffs charged per engaged contact.",
    )
    occurred_at: str = Field(
        description="When the chat was completed: ISO 8601 with an offset.",
        json_schema_extra={"format": "date-time"},
    )
    meta: dict[str, Any] | None = Field(
        default=None, description="Anything the sender wants to keep with the chat (≤ 4 KB)."
    )


FIELDS = tuple(EventIn.model_fields)


def _typed_like(info) -> Any:
    """An EventIn field's type for msgspec: the same type, with the same length bounds."""
    bounds = {}
    for item in info.metadata:
        if isinstance(item, annotated_types.MinLen):
            bounds["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            bounds["max_length"] = item.max_length
        else:  # pragma: no cover - EventIn has no other constraint
            raise TypeError(f"EventIn constraint {item!r} has no msgspec twin")
    kind, optional = info.annotation, False
    if get_origin(kind) in (Union, types.UnionType) and type(None) in get_args(kind):
        (kind,) = [arg for arg in get_args(kind) if arg is not type(None)]
        optional = True
    if bounds:
        kind = Annotated[kind, msgspec.Meta(**bounds)]
    return kind | None if optional else kind


# EventIn as msgspec decodes it straight from a body's bytes, types and lengths checked in the
# same pass (the API's common case: every event well formed). Built from EventIn's fields, so the
# two cannot drift. Where msgspec accepts a document, json.loads and EventIn accept it too, with
# equal values (tests/billing/test_ingest_fast_path.py); anything else, the body is read the slow
# way, which names what is wrong in each event.
EventFields = msgspec.defstruct(
    "EventFields",
    [
        (name, _typed_like(info)) if info.is_required() else (name, _typed_like(info), info.default)
        for name, info in EventIn.model_fields.items()
    ],
    forbid_unknown_fields=True,
    kw_only=True,
)
_BATCH_DECODER = msgspec.json.Decoder(
    msgspec.defstruct("Batch", [("events", list[EventFields])], forbid_unknown_fields=True)
)


def events_decode(document: str | bytes) -> list | None:
    """The events of a JSON body {"events": [...]} decoded and typed in one pass when every event
    is well formed (the fields of EventIn, their types and lengths) and no meta nests deeper than
    MAX_META_DEPTH; None otherwise: read it then with loads_json() and events_prepare(), which
    say what is wrong."""
    try:
        events = _BATCH_DECODER.decode(document).events
    except (msgspec.MsgspecError, RecursionError, UnicodeEncodeError):
        return None
    # A meta nested deeper is refused in any case, and json.loads may not even read the body:
    # called with a few more frames on the stack than msgspec, it reaches the recursion limit
    # first (the API answers 400 "nested too deeply" then). The slow path decides, as before.
    if _nested_deeper(filter(None, map(_META, events)), MAX_META_DEPTH):
        return None
    return events


_META = attrgetter("meta")


def _nested_deeper(objects: Iterable[dict], levels: int) -> bool:
    """Some of these JSON objects hold arrays and objects nested more than `levels` deep
    (themselves included): looked at level by level, all of them at once, without recursing.
    Flat ones (the common case) cost one pass in C over their values."""
    arrays: list[list] = []
    for _level in range(levels):
        items = [*chain.from_iterable(map(dict.values, objects)), *chain.from_iterable(arrays)]
        kinds = set(map(type, items))
        if dict not in kinds and list not in kinds:
            return False
        objects = [item for item in items if type(item) is dict]
        arrays = [item for item in items if type(item) is list]
    return True


def is_storable_text(value: str) -> bool:
    """Text a database can store: valid Unicode (no lone surrogate) without NUL characters."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


MAX_META_DEPTH = 32


def _storable_json(value, depth: int = 0) -> bool:
    """Every string and key of a JSON value is storable text (no NUL, no lone surrogate), and
    it nests at most MAX_META_DEPTH deep."""
    if isinstance(value, str):
        return is_storable_text(value)
    if isinstance(value, dict | list) and depth >= MAX_META_DEPTH:
        return False
    if isinstance(value, dict):
        return all(
            is_storable_text(key) and _storable_json(item, depth + 1) for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_storable_json(item, depth + 1) for item in value)
    return True


def _meta_json(meta: dict) -> str | None:
    """`meta` as compact JSON, or None when it cannot be stored (_storable_json, or a number
    that is not finite). Encoded first: compact JSON that is ASCII, without an escaped NUL and
    with at most MAX_META_DEPTH brackets is storable without walking it (the common case)."""
    try:
        dumped = "".join(_COMPACT_ENCODE(meta, 0))
    except (ValueError, RecursionError):  # NaN or infinity; nested far too deep
        return None
    if (
        dumped.isascii()
        and "\\u0000" not in dumped
        and dumped.count("{") + dumped.count("[") <= MAX_META_DEPTH
    ):
        return dumped
    return dumped if _storable_json(meta) else None


def loads_json(text: str | bytes):
    """json.loads, refusing NaN, Infinity and numbers too big for a float (read as infinity):
    not JSON, or not storable. A document nested too deeply raises ValueError too."""

    def refuse(constant):
        raise ValueError(_("%(value)s is not a JSON number") % {"value": constant})

    def finite(literal):
        number = float(literal)
        if not math.isfinite(number):
            refuse(literal[:20])
        return number

    try:
        return json.loads(text, parse_constant=refuse, parse_float=finite)
    except RecursionError:
        raise ValueError(_("nested too deeply")) from None
