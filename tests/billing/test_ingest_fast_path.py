"""The API's fast path (billing.usage.intake.events_decode, EventFields) never changes what is
answered or stored: where msgspec reads a batch, json.loads (loads_json) and EventIn read it too,
with identical values; anything malformed is left to the slow path, which names what is wrong."""

import json
import math
import random
import sys
from contextlib import contextmanager
from datetime import date

import msgspec
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import billing.usage.api as api_module
from billing.models import Actor, ChatEvent
from billing.usage.intake import (
    _COMPACT_ENCODE,
    FIELDS,
    MAX_META_DEPTH,
    EventFields,
    EventIn,
    _meta_json,
    events_decode,
    loads_json,
)
from billing.usage.store import events_ingest
from billing.usage.tokens import api_token_create
from billing.usage.validate import _canonical, events_prepare
from tests.factories import CustomerFactory, subscribe
from tests.factories import chat_event as event

URL = "/api/v1/chat-events"
MISSING = object()
LIMITS = {"id": (1, 100), "customer": (1, 64), "tariff": (1, 64), "contact": (0, 200)}
NUL_REFUSED = "%s holds a NUL character or invalid Unicode."


def batch(*events, **options) -> str:
    return json.dumps({"events": list(events)}, **options)


def slow_events(document) -> list[EventIn]:
    """The events as the slow path reads them: loads_json, then EventIn one by one."""
    return [EventIn.model_validate(raw) for raw in loads_json(document)["events"]]


def identical(one, other) -> bool:
    """Equal and of the same types all the way down: 1 is not 1.0 nor True, -0.0 is not 0.0,
    a float is equal to the bit, an object's keys come in the same order."""
    if type(one) is not type(other):
        return False
    if type(one) is float:
        return one.hex() == other.hex()
    if type(one) is dict:
        return list(one) == list(other) and all(identical(one[key], other[key]) for key in one)
    if type(one) is list:
        return len(one) == len(other) and all(map(identical, one, other))
    return one == other


def _nesting(value) -> int:
    """How deep arrays and objects nest in a JSON value (itself included)."""
    if type(value) is dict:
        value = list(value.values())
    if type(value) is list:
        return 1 + max(map(_nesting, value), default=0)
    return 0


def assert_read_alike(document) -> list:
    """events_decode reads `document`, and its events are those of the slow path, field for
    field, meta encoded alike for storing."""
    fast = events_decode(document)
    assert fast is not None, document
    slow = slow_events(document)
    assert len(fast) == len(slow)
    for one, other in zip(fast, slow, strict=True):
        assert type(one) is EventFields
        for name in FIELDS:
            assert identical(getattr(one, name), getattr(other, name)), (name, one, other)
        if other.meta is not None:
            assert _meta_json(one.meta) == _meta_json(other.meta)
    return fast


# --- 1. EventFields is EventIn ---------------------------------------------------------------


def test_event_fields_has_event_in_fields_required_and_defaults_alike():
    """Same names in the same order, the same ones required, the same defaults."""
    fields = msgspec.structs.fields(EventFields)
    assert [item.name for item in fields] == list(EventIn.model_fields) == list(FIELDS)
    assert [item.name for item in fields] == [
        "id",
        "customer",
        "tariff",
        "actor",
        "contact",
        "occurred_at",
        "meta",
    ]
    for item in fields:
        info = EventIn.model_fields[item.name]
        assert item.required == info.is_required(), item.name
        if not item.required:
            assert item.default == info.default and item.default is None, item.name
    required = {"id", "customer", "tariff", "actor", "occurred_at"}
    assert {item.name for item in fields if item.required} == required
    # EventIn's bounds (LIMITS, checked against it) are EventFields' bounds, and only those.
    for name, info in EventIn.model_fields.items():
        bounds = {type(item).__name__: item for item in info.metadata}
        expected = (
            (bounds["MinLen"].min_length if "MinLen" in bounds else 0, bounds["MaxLen"].max_length)
            if bounds
            else (0, None)
        )
        assert expected == LIMITS.get(name, (0, None)), name
    typed = msgspec.inspect.type_info(EventFields)
    assert typed.forbid_unknown_fields
    for item in typed.fields:
        kind = item.type
        if isinstance(kind, msgspec.inspect.UnionType):  # X | None
            (kind,) = [one for one in kind.types if not isinstance(one, msgspec.inspect.NoneType)]
            assert not item.required
        if item.name == "meta":
            assert isinstance(kind, msgspec.inspect.DictType)
            assert isinstance(kind.key_type, msgspec.inspect.StrType)
            assert isinstance(kind.value_type, msgspec.inspect.AnyType)
            continue
        assert isinstance(kind, msgspec.inspect.StrType), item.name
        assert (kind.min_length or 0, kind.max_length) == LIMITS.get(item.name, (0, None))


@pytest.mark.parametrize("name", [name for name in FIELDS if name != "meta"])
def test_each_field_is_required_or_optional_in_both(name):
    """An event without the field: both read it (then None) or both refuse it."""
    raw = event(contact="+33600000001")
    del raw[name]
    document = batch(raw)
    try:
        EventIn.model_validate(raw)
    except ValidationError:
        assert events_decode(document) is None
    else:
        assert assert_read_alike(document)[0].contact is None


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "utf8"])
@pytest.mark.parametrize(("name", "limits"), LIMITS.items())
@pytest.mark.parametrize("char", ["x", "é", "😀", "𝄞"])
def test_length_bounds_count_characters_like_pydantic(name, limits, char, ensure_ascii):
    """At its longest a text is read by both, one character more refused by both; an astral
    character (a surrogate pair when escaped) is one character; empty is refused where EventIn
    says min_length=1."""
    shortest, longest = limits
    at_most = event(**{name: "a" * (longest - 1) + char})
    assert len(at_most[name]) == longest
    EventIn.model_validate(at_most)
    assert assert_read_alike(batch(at_most, ensure_ascii=ensure_ascii))[0] is not None
    assert getattr(events_decode(batch(at_most))[0], name) == at_most[name]
    all_astral = event(**{name: char * longest})
    EventIn.model_validate(all_astral)
    assert_read_alike(batch(all_astral, ensure_ascii=ensure_ascii))

    for too_long in (event(**{name: char * (longest + 1)}), event(**{name: "a" * longest + char})):
        with pytest.raises(ValidationError, match="string_too_long"):
            EventIn.model_validate(too_long)
        assert events_decode(batch(too_long, ensure_ascii=ensure_ascii)) is None

    empty = event(**{name: ""})
    if shortest:
        with pytest.raises(ValidationError, match="string_too_short"):
            EventIn.model_validate(empty)
        assert events_decode(batch(empty)) is None
    else:
        assert assert_read_alike(batch(empty))[0].contact == ""


@pytest.mark.parametrize("name", ["actor", "occurred_at"])
def test_fields_without_bounds_have_none_in_either(name):
    """actor and occurred_at: any text, empty or long, is read by both (the checks come after)."""
    for value in ("", "😀" * 5000):
        assert getattr(assert_read_alike(batch(event(**{name: value})))[0], name) == value


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize(
    "value", [5, 1.5, True, None, [], {}, ["x"], "text"], ids=lambda value: repr(value)
)
def test_a_value_of_another_type_is_refused_by_both_or_read_by_both(name, value):
    """Whatever JSON type a field holds, EventIn and events_decode agree on it."""
    raw = event(**{name: value})
    try:
        EventIn.model_validate(raw)
    except ValidationError:
        assert events_decode(batch(raw)) is None
    else:
        assert_read_alike(batch(raw))


# --- 2. Well-formed batches read alike (hypothesis) -------------------------------------------

_CHARS = st.one_of(
    st.characters(codec="utf-8"),  # any code point but a surrogate, astral ones included
    st.sampled_from(["😀", "𝄞", "🇫", "é", "€", "\u2028", "\x7f", "\x00", "\x1f", '"', "\\", "/"]),
)


def _texts(min_size=0, max_size=12):
    return st.text(_CHARS, min_size=min_size, max_size=max_size)


_INTEGERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.sampled_from(
        [0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, -(2**63), -(2**63) - 1, 10**40]
    ),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [-0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e23, 0.1]
    ),
    st.sampled_from([-1.7976931348623157e308, 1e-7, 1e16, 123456789012345680.0, 1.0, -2.5]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _INTEGERS, _FLOATS, _texts())
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_texts(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)
_METAS = st.dictionaries(_texts(max_size=8), _JSON, max_size=5)


@st.composite
def _events(draw):
    raw = {
        "id": draw(_texts(1, 100)),
        "customer": draw(_texts(1, 64)),
        "tariff": draw(_texts(1, 64)),
        "actor": draw(st.sampled_from(Actor.values) | _texts()),
        "occurred_at": draw(st.just("2026-11-20T10:00:00+01:00") | _texts(max_size=30)),
        "contact": draw(st.just(MISSING) | st.none() | _texts(max_size=200)),
        "meta": draw(st.just(MISSING) | st.none() | _METAS),
    }
    order = draw(st.permutations(list(raw)))
    return {key: raw[key] for key in order if raw[key] is not MISSING}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    events=st.lists(_events(), max_size=4),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 2, "\t"]),
    as_bytes=st.booleans(),
)
def test_a_well_formed_batch_is_read_by_msgspec_as_json_loads_and_event_in_read_it(
    events, ensure_ascii, indent, as_bytes
):
    """Random valid events (texts with astral characters, NUL and quotes; meta with nested
    objects and arrays, integers past 2**64 and negative, floats tiny, huge and -0.0, booleans,
    null), written escaped or as UTF-8, compact or indented, as text or bytes: events_decode reads
    them, each field identical to EventIn's (type, value, meta's key order), meta encoded alike,
    and the values are the ones sent."""
    text = batch(*events, ensure_ascii=ensure_ascii, indent=indent)
    fast = assert_read_alike(text.encode() if as_bytes else text)
    for sent, read in zip(events, fast, strict=True):
        for name in FIELDS:
            assert identical(getattr(read, name), sent.get(name)), name


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            '{"events":[{"id":"a","id":"b","customer":"c","tariff":"t","actor":"agent",'
            '"occurred_at":"x","contact":"1","contact":null}]}',
            {"id": "b", "contact": None},
        ),
        (
            '{"events":[{"id":"a","customer":"c","tariff":"t","actor":"agent","occurred_at":"x",'
            '"meta":{"k":1,"j":[2,{"x":1,"x":true}],"k":3.5}}]}',
            {"meta": {"k": 3.5, "j": [2, {"x": True}]}},
        ),
        (
            '{"events":[{"id":"a","customer":"c","tariff":"t","actor":"agent","occurred_at":"x",'
            '"meta":{"k":1},"meta":null}]}',
            {"meta": None},
        ),
        (
            '{"events":[],"events":[{"id":"a","customer":"c","tariff":"t","actor":"agent",'
            '"occurred_at":"x"}]}',
            {"id": "a"},
        ),
    ],
    ids=["event-keys", "meta-keys", "meta-then-null", "events-twice"],
)
def test_a_key_written_twice_is_read_by_both_its_last_value_in_its_first_place(document, expected):
    """json.loads keeps the last value of a repeated key (at the place of the first): so does
    events_decode, in an event, in meta and for the batch's events."""
    (read,) = assert_read_alike(document)
    for name, value in expected.items():
        assert identical(getattr(read, name), value)


@pytest.mark.parametrize(
    "literal",
    [
        "0.1000000000000000055511151231257827021181583404541015625",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1e-400",
        "-1e-400",
        "-0",
        "-0.0",
        "0e0",
        "1E+2",
        "9007199254740993",
        "9007199254740993.0",
        "1.7976931348623158e308",
        "0.000001e310",
        "1" * 4300,
        "1" * 400 + ".5e-390",
    ],
)
def test_numbers_at_the_edges_are_read_alike(literal):
    """Rounding halfway, subnormals, underflow to ±0, -0 as an integer, 4,300 digits (Python's
    limit for an int), long mantissas: the same number of the same type."""
    document = batch(event()).replace('"chat-1"', f'"chat-1","meta":{{"n":{literal}}}', 1)
    assert '"meta"' in document
    assert_read_alike(document)


# --- 3. Anything malformed is left to the slow path -------------------------------------------

_VALID = batch(event())


def _with(**fields) -> str:
    return batch(event(**fields))


def _spliced(text: str) -> str:
    """A valid batch with `text` written where meta's value goes (raw JSON)."""
    return _VALID.replace('"chat-1"', f'"chat-1","meta":{text}', 1)


def _deep(depth: int) -> str:
    """A valid batch whose meta nests `depth` deep (itself and depth - 1 arrays)."""
    return _spliced('{"x":' + "[" * (depth - 1) + "0" + "]" * (depth - 1) + "}")


_MALFORMED = {
    "missing field": batch({key: value for key, value in event().items() if key != "tariff"}),
    "missing actor": batch({key: value for key, value in event().items() if key != "actor"}),
    "unknown field": _with(channel="web"),
    "unknown field null": _with(extra=None),
    "int id": _with(id=5),
    "float occurred_at": _with(occurred_at=1.5),
    "bool actor": _with(actor=True),
    "null customer": _with(customer=None),
    "null id": _with(id=None),
    "number contact": _with(contact=12),
    "list meta": _with(meta=[]),
    "string meta": _with(meta="{}"),
    "too long id": _with(id="x" * 101),
    "too long astral id": _with(id="😀" * 101),
    "too long customer": _with(customer="c" * 65),
    "too long tariff": _with(tariff="t" * 65),
    "too long contact": _with(contact="😀" * 201),
    "empty id": _with(id=""),
    "empty customer": _with(customer=""),
    "empty tariff": _with(tariff=""),
    "lone surrogate escape in id": _VALID.replace('"chat-1"', '"chat-\\ud800"'),
    "lone low surrogate escape": _VALID.replace('"chat-1"', '"chat-\\udc00"'),
    "lone surrogate escape in contact": _spliced('null,"contact":"\\ud83d"'),
    "lone surrogate escape in meta": _spliced('{"x":"\\ud800"}'),
    "lone surrogate escape in a key": _spliced('{"\\udfff":1}'),
    "raw lone surrogate (text)": _VALID.replace("chat-1", "chat-\ud800"),
    "raw control character": _VALID.replace("chat-1", "chat\x01"),
    "raw NUL": _VALID.replace("chat-1", "chat\x00"),
    "raw newline in a string": _VALID.replace("chat-1", "chat\n1"),
    "raw tab in meta": _spliced('{"x":"a\tb"}'),
    "bad escape": _VALID.replace("chat-1", "chat\\x41"),
    "NaN": _spliced('{"x":NaN}'),
    "Infinity": _spliced('{"x":Infinity}'),
    "-Infinity": _spliced('{"x":-Infinity}'),
    "1e400": _spliced('{"x":1e400}'),
    "-1e400": _spliced('{"x":-1e400}'),
    "1.8e308": _spliced('{"x":1.8e308}'),
    "huge exponent": _spliced('{"x":1e99999999999999999999}'),
    "4301 digits": _spliced('{"x":' + "1" * 4301 + "}"),
    "leading zero": _spliced('{"x":01}'),
    "leading plus": _spliced('{"x":+1}'),
    "bare fraction": _spliced('{"x":.5}'),
    "trailing dot": _spliced('{"x":1.}'),
    "True": _spliced('{"x":True}'),
    "single quotes": _VALID.replace('"chat-1"', "'chat-1'"),
    "trailing comma in object": _spliced('{"x":1,}'),
    "trailing comma in list": _spliced('{"x":[1,]}'),
    "comment": _spliced('{"x":1/* no */}'),
    "trailing garbage": _VALID + " x",
    "trailing NUL": _VALID + "\x00",
    "two documents": _VALID + _VALID,
    "truncated": _VALID[:-2],
    "vertical tab as space": _VALID.replace(":", ":\x0b", 1),
    "form feed as space": _VALID.replace(":", ":\x0c", 1),
    "no-break space as space": _VALID.replace(":", ":\u00a0", 1),
    "empty body": "",
    "blank body": "  \n",
    "UTF-16 body": _VALID.encode("utf-16"),
    "UTF-16-LE body": _VALID.encode("utf-16-le"),
    "UTF-32 body": _VALID.encode("utf-32"),
    "UTF-8 BOM (bytes)": b"\xef\xbb\xbf" + _VALID.encode(),
    "UTF-8 BOM (text)": "\ufeff" + _VALID,
    "invalid UTF-8": _VALID.encode().replace(b"chat-1", b"chat-\xff"),
    "overlong UTF-8 NUL": _VALID.encode().replace(b"chat-1", b"chat-\xc0\x80"),
    "UTF-8 past U+10FFFF": _VALID.encode().replace(b"chat-1", b"chat-\xf4\x90\x80\x80"),
    "UTF-8 encoded surrogate": _VALID.encode().replace(b"chat-1", b"chat-\xed\xa0\x80"),
    "top level list": json.dumps([event()]),
    "top level string": json.dumps("events"),
    "top level null": "null",
    "top level number": "1",
    "no events": "{}",
    "events an object": json.dumps({"events": {"0": event()}}),
    "events null": '{"events":null}',
    "events a string": '{"events":"[]"}',
    "an event a number": json.dumps({"events": [event(), 1]}),
    "an event a list": json.dumps({"events": [event(), []]}),
    "an event null": json.dumps({"events": [None, event()]}),
    "an event a string": json.dumps({"events": [json.dumps(event())]}),
    "extra top-level key": json.dumps({"events": [event()], "more": 1}),
    "extra top-level key null": json.dumps({"events": [], "source": None}),
    "first events malformed": '{"events":[1],"events":' + json.dumps([event()]) + "}",
    "last events malformed": '{"events":' + json.dumps([event()]) + ',"events":[1]}',
    "nested past the recursion limit (meta)": _deep(sys.getrecursionlimit() + 100),
    "nested past the recursion limit (events)": '{"events":'
    + "[" * (sys.getrecursionlimit() + 100)
    + "]" * (sys.getrecursionlimit() + 100)
    + "}",
}


@pytest.mark.parametrize("document", _MALFORMED.values(), ids=_MALFORMED.keys())
def test_a_malformed_body_or_event_is_left_to_the_slow_path(document):
    """events_decode returns None: the API then reads the body with loads_json and EventIn,
    which answer as they did before the fast path (400, or a message per event)."""
    assert events_decode(document) is None


def test_the_malformed_cases_differ_from_a_valid_batch_only_in_what_they_say():
    """The valid batch the cases are made from is read (each case is refused for its fault)."""
    assert_read_alike(_VALID)
    assert_read_alike(_spliced('{"x":[1,{"y":null}]}'))


def test_a_meta_nested_too_deep_to_store_is_left_to_the_slow_path():
    """A meta nested MAX_META_DEPTH deep is read; one level more is refused when stored in any
    case, and json.loads may not read the body at all: the slow path decides."""
    assert json.loads(_deep(3))["events"][0]["meta"] == {"x": [[0]]}
    assert_read_alike(_deep(MAX_META_DEPTH))
    assert events_decode(_deep(MAX_META_DEPTH + 1)) is None
    for arrays, read in ((MAX_META_DEPTH - 1, True), (MAX_META_DEPTH, False)):  # empty innermost
        document = _spliced('{"x":' + "[" * arrays + "]" * arrays + "}")
        assert (events_decode(document) is not None) is read
    spread = _spliced(json.dumps({"a": [[1]] * 40, "b": {"c": {"d": [{}] * 40}}}))
    assert_read_alike(spread)  # many arrays and objects, none deep

    def objects(depth):  # objects and arrays in turn
        nested = 0
        for level in range(depth - 1):
            nested = [nested] if level % 2 else {"a": nested}
        return {"m": nested}

    assert [_nesting(objects(depth)) for depth in (1, 2, 32, 33)] == [1, 2, 32, 33]
    many = [event(id=f"chat-{n}", meta=objects(MAX_META_DEPTH - n % 3)) for n in range(40)]
    assert_read_alike(batch(*many))
    assert_read_alike(batch(*many, event(id="chat-x", meta=objects(MAX_META_DEPTH))))
    for where in (0, 20, 40):
        deeper = [*many]
        deeper.insert(where, event(id="chat-x", meta=objects(MAX_META_DEPTH + 1)))
        assert events_decode(batch(*deeper)) is None
        assert events_decode(batch(*deeper).encode()) is None


def test_a_body_json_loads_finds_nested_too_deeply_is_not_read_by_msgspec():
    """json.loads stops at the recursion limit (the API answers 400 "nested too deeply"), a few
    frames further down the stack than msgspec: at every depth, called from the same place, when
    loads_json refuses the body, events_decode does too; when both read it, alike."""
    refused_from = None
    for depth in range(1, sys.getrecursionlimit() + 10):
        document = _deep(depth)
        try:
            loads_json(document)
        except ValueError as error:
            assert "nested too deeply" in str(error)
            refused_from = refused_from or depth
            assert events_decode(document) is None, f"msgspec read meta nested {depth} deep"
        else:
            read = events_decode(document)
            if read is not None and depth <= 2 * MAX_META_DEPTH:  # (deeper: too deep to compare)
                assert_read_alike(document)
    assert refused_from is not None and refused_from > MAX_META_DEPTH


# --- 4. meta's compact encoder ----------------------------------------------------------------

_REFERENCE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_ANY_TEXT = st.text(
    st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "😀", "\x00", '"', "\\"])),
    max_size=10,
)
_ANY_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), _INTEGERS, _FLOATS, _ANY_TEXT),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ANY_TEXT, inner, max_size=4),
    max_leaves=24,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_ANY_JSON)
def test_the_compact_encoder_writes_what_json_writes(value):
    """_COMPACT_ENCODE (made once) writes exactly what json.JSONEncoder(ensure_ascii=False,
    separators=(",", ":"), allow_nan=False).encode() writes, lone surrogates and all."""
    assert "".join(_COMPACT_ENCODE(value, 0)) == _REFERENCE.encode(value)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["alone", "in an object", "in an array"])
def test_the_compact_encoder_refuses_numbers_that_are_not_finite(number, where):
    value = {"alone": number, "in an object": {"a": {"b": number}}, "in an array": [1, [number]]}
    with pytest.raises(ValueError):
        _REFERENCE.encode(value[where])
    with pytest.raises(ValueError):
        "".join(_COMPACT_ENCODE(value[where], 0))
    assert _meta_json({"x": value[where]}) is None


# --- 5. Through the API -----------------------------------------------------------------------


@pytest.fixture
def dealer(db):
    customer = CustomerFactory(code="garage-dupont")
    subscribe(customer, "GROW", first_month=date(2026, 1, 1))
    return customer


@pytest.fixture
def tokens(db):
    """A token for the fast path's source, one for the slow path's (their chats kept apart)."""
    return {
        "fast": api_token_create(source="chat-platform")[1],
        "slow": api_token_create(source="slow-platform")[1],
    }


@pytest.fixture
def fast_path(monkeypatch):
    """What events_decode answered at each call of the API (True: it read the batch)."""
    read = []

    def spy(document):
        events = events_decode(document)
        read.append(events is not None)
        return events

    monkeypatch.setattr(api_module, "events_decode", spy)
    return read


@contextmanager
def slow_path_only():
    """The API as it was before the fast path: every body read by loads_json and EventIn."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api_module, "events_decode", lambda document: None)
        yield


def post(client, document, token):
    return client.post(
        URL,
        document,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def answered(response) -> tuple[int, dict]:
    return response.status_code, response.json()


def both_ways(client, tokens, document) -> tuple[tuple[int, dict], tuple[int, dict]]:
    """The answer to `document` as the API gives it now, and as it gave it before the fast path
    (under another source: the chats of one do not make duplicates of the other's)."""
    fast = answered(post(client, document, tokens["fast"]))
    with slow_path_only():
        slow = answered(post(client, document, tokens["slow"]))
    return fast, slow


def test_a_batch_with_one_malformed_event_names_only_it_and_stores_the_others(
    client, dealer, tokens, fast_path
):
    """One event of the wrong type: msgspec refuses the batch, the slow path names that event's
    field and the others are stored."""
    document = batch(
        event(id="chat-1"),
        event(id="chat-2", contact=12),
        event(id="chat-3", meta={"n": 2**70, "x": -0.0}),
    )
    status, answer = answered(post(client, document, tokens["fast"]))
    assert fast_path == [False]
    assert status == 200
    assert answer == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [{"index": 1, "id": "chat-2", "errors": {"contact": "12 is not text."}}],
    }
    assert sorted(ChatEvent.objects.values_list("external_id", flat=True)) == ["chat-1", "chat-3"]
    assert ChatEvent.objects.get(external_id="chat-3").metadata["n"] == 2**70


def test_texts_with_a_nul_read_by_msgspec_are_refused_as_the_slow_path_refuses_them(
    client, dealer, tokens, fast_path
):
    """msgspec reads a NUL (written \\u0000) like any character; the text check after it refuses
    each such event with the message and the `id: null` the slow path gives."""
    raw = [
        event(id="chat-1"),
        event(id="chat-2", contact="+33\x00600000001"),
        event(id="chat-3", customer="garage\x00dupont", contact="\x00"),
        event(id="chat-4", tariff="contact_engaged", actor="team", contact="😀" * 200),
        event(id="chat-\x00"),
    ]
    _ready, rejected, _repeats = events_prepare(events=raw)
    expected = [{"index": item.index, "id": item.id, "errors": item.errors} for item in rejected]
    assert expected == [
        {"index": 1, "id": None, "errors": {"contact": NUL_REFUSED % "contact"}},
        {
            "index": 2,
            "id": None,
            "errors": {
                "customer": NUL_REFUSED % "customer",
                "contact": NUL_REFUSED % "contact",
            },
        },
        {"index": 4, "id": None, "errors": {"id": NUL_REFUSED % "id"}},
    ]
    fast, slow = both_ways(client, tokens, batch(*raw))
    assert fast_path == [True]
    assert fast == slow == (200, {"accepted": 2, "duplicates": 0, "rejected": expected})


_API_BODIES = {
    "valid": (
        batch(
            event(id="chat-1", meta={"big": 2**64 + 1, "neg": -(2**70), "z": -0.0, "é": "😀"}),
            event(id="chat-2", tariff="contact_engaged", actor="team", contact="😀" * 200),
            event(id="chat-3", tariff="quote_request", actor="bot"),
            event(id="chat-1", meta={"big": 2**64 + 1, "neg": -(2**70), "z": -0.0, "é": "😀"}),
            event(id="chat-1", meta={"big": 2**64 + 1, "neg": -(2**70), "z": 0.0, "é": "😀"}),
        ),
        True,
    ),
    "keys twice": (
        '{"events":[{"id":"chat-9","id":"chat-1","customer":"x","customer":"garage-dupont",'
        '"tariff":"test_drive","actor":"agent","occurred_at":"2026-11-20T10:00:00+01:00",'
        '"meta":{"b":1,"a":2,"b":{"c":3,"c":4}}}]}',
        True,
    ),
    "escaped, indented": (batch(event(contact="é😀"), ensure_ascii=True, indent=2), True),
    "meta not storable": (batch(event(meta={"x": "\x00"}), event(id="chat-2", meta={})), True),
    "meta 33 deep": (_deep(MAX_META_DEPTH + 1).replace("chat-1", "chat-2"), False),
    "wrong type": (batch(event(), event(id="chat-2", meta=[1])), False),
    "too long": (batch(event(), event(id="chat-2", customer="c" * 65)), False),
    "lone surrogate": (_VALID.replace('"chat-1"', '"chat-\\ud800"'), False),
    "1e400": (_spliced('{"x":1e400}'), False),
    "unknown field": (batch(event(channel="web")), False),
    "not a list": ('{"events":{}}', False),
    "extra key": ('{"events":[],"more":1}', False),
}


@pytest.mark.parametrize(("document", "read"), _API_BODIES.values(), ids=_API_BODIES.keys())
def test_the_api_answers_what_it_answered_before_the_fast_path(
    client, dealer, tokens, fast_path, document, read
):
    """The same status and JSON answer with the fast path as with the slow path alone."""
    fast, slow = both_ways(client, tokens, document)
    assert fast_path == [read]
    assert fast == slow


def test_the_api_answers_a_body_nested_near_the_recursion_limit_as_before(
    client, dealer, tokens, fast_path
):
    """Around the depth where json.loads gives up inside the API (400 "nested too deeply"), the
    answer with the fast path is the one the slow path gives, depth by depth. (Both ways are
    posted from the same place: the depth json.loads reaches depends on the stack below it.)"""
    answers = {}

    def slow_status(depth):
        answers[depth] = both_ways(client, tokens, _deep(depth))
        return answers[depth][1][0]

    low, high = 1, sys.getrecursionlimit() + 10
    assert slow_status(high) == 400
    while low < high:  # the first depth the slow path refuses as a whole
        middle = (low + high) // 2
        if slow_status(middle) == 400:
            high = middle
        else:
            low = middle + 1
    assert low > MAX_META_DEPTH
    for depth in range(low - 6, low + 6):
        if depth not in answers:
            slow_status(depth)
    for depth, (fast, slow) in sorted(answers.items()):
        assert fast == slow, depth
        assert slow[0] == (400 if depth >= low else 200), depth


# --- 6. What is stored ------------------------------------------------------------------------


def _metas(seed: int, count: int) -> list:
    """Metas of every kind, made by a seeded generator (the same at every run)."""
    rng = random.Random(seed)
    texts = ["", "é", "😀", "𝄞x", "\u2028", "a\\b", 'q"', "\x7f", "garage", "🇫🇷"]

    def value(depth):
        kind = rng.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return rng.choice([None, True, False])
        if kind == 1:
            return rng.choice([0, -1, 2**63 - 1, 2**64 + 1, -(2**70), 10**40, rng.randint(-9, 9)])
        if kind == 2:
            return rng.choice([-0.0, 0.1, 5e-324, 1.7976931348623157e308, 1e23, 1.0, -2.5e-300])
        if kind == 3:
            return rng.uniform(-1e6, 1e6)
        if kind in (4, 5):
            return rng.choice(texts) + str(rng.randint(0, 99))
        if kind in (6, 7):
            return {rng.choice(texts) + str(n): value(depth + 1) for n in range(rng.randrange(4))}
        return [value(depth + 1) for _n in range(rng.randrange(4))]

    return [
        {rng.choice(texts) + str(n): value(1) for n in range(rng.randrange(1, 6))}
        for _meta in range(count)
    ]


def _stored(source: str) -> dict[str, tuple]:
    """The chats of `source` as stored, meta as the database gives it and as its text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT external_id, CAST(metadata AS text) FROM billing_chatevent WHERE source = %s",
            [source],
        )
        texts = dict(cursor.fetchall())
    return {
        chat.external_id: (
            chat.customer_id,
            chat.tariff_id,
            chat.actor,
            chat.contact,
            chat.occurred_at,
            chat.points,
            chat.late,
            chat.metadata,
            texts[chat.external_id],
        )
        for chat in ChatEvent.objects.filter(source=source)
    }


def test_a_batch_read_by_msgspec_is_stored_as_events_ingest_stores_the_same_events(
    client, dealer, tokens, fast_path, db_vendor
):
    """On either database, the chats of a batch posted through the API (fast path) and of the
    same events given to events_ingest as json.loads reads them (under another source) are the
    same, field for field, meta as stored (its text included)."""
    nested = {"a": 1}
    for _level in range(MAX_META_DEPTH - 1):
        nested = {"a": nested}
    handmade = [
        {
            "big": 2**64 + 1,
            "neg": -(2**70),
            "int64": 2**63 - 1,
            "tiny": 5e-324,
            "huge": 1.7976931348623157e308,
            "zero": -0.0,
            "one": 1.0,
            "t": True,
            "f": False,
            "n": None,
            "s": "é😀\u2028",
            "😀": [1, [2, {"x": "y"}]],
            "empty": {},
            "list": [],
        },
        {"z": 1, "a": 2, "m": {"z": [], "a": {}}},
        nested,
        None,
        {},
    ]
    metas = handmade + _metas(seed=16, count=35)
    offsets = ["+01:00", "Z", "-05:30", "+14:00"]
    raw = []
    for n, meta in enumerate(metas):
        fields = {
            "id": f"chat-{n}-😀",
            "occurred_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:07.25"
            + offsets[n % 4],
        }
        if n % 3 == 0:
            fields.update(tariff="contact_engaged", actor="team", contact=f"+33 {n} 😀" * 20)
        elif n % 3 == 1:
            fields.update(actor="bot", contact="")
        if meta is not None or n % 2:
            fields["meta"] = meta
        raw.append(event(**fields))
    document = batch(*raw, ensure_ascii=False)

    status, answer = answered(post(client, document, tokens["fast"]))
    assert fast_path == [True]
    assert (status, answer) == (200, {"accepted": len(raw), "duplicates": 0, "rejected": []})
    result = events_ingest(source="reference", events=loads_json(document)["events"])
    assert (result.accepted, result.rejected) == (len(raw), [])

    fast, reference = _stored("chat-platform"), _stored("reference")
    assert sorted(fast) == sorted(reference) == sorted(item["id"] for item in raw)
    for external_id, row in fast.items():
        *fields, metadata, text = row
        *expected_fields, expected_metadata, expected_text = reference[external_id]
        assert fields == expected_fields, external_id
        assert identical(metadata, expected_metadata), (external_id, db_vendor)
        assert text == expected_text, (external_id, db_vendor)
    # And what the API stored is what was sent, as the ingestion compares JSON (PostgreSQL's
    # jsonb keeps a number's digits, not its type: 1e23 comes back as an integer).
    sent = {item["id"]: item for item in raw}
    for external_id, (*_fields, metadata, _text) in fast.items():
        assert _canonical(metadata) == _canonical(sent[external_id].get("meta") or {})
