"""The HTTP API of the chat platform's integrations: POST /api/v1/chat-events (django-ninja).

The body is parsed here rather than by a ninja schema so that a batch is refused as a whole only
when it is not such a document (400) or is too big (413); otherwise every event is judged on its
own, and the valid ones are stored (billing.usage.store.events_ingest).
"""

from __future__ import annotations

import json
from json.decoder import scanstring

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from billing.usage.intake import EventIn, events_decode, loads_json
from billing.usage.store import events_ingest
from billing.usage.tokens import api_token_authenticate
from billing.usage.validate import MAX_BATCH

# What a body may cost is bounded before it is parsed, whatever a token holder sends:
# - its bytes: the largest valid event written compactly in UTF-8 is 5.5 KB (a 100-character id
#   and a 200-character contact in 4-byte characters, 4 KB of meta, the other fields at their
#   longest); 8 KiB an event leaves room for spaces and escapes. A bigger body is refused unread.
# - its JSON values: parsed, each costs up to ~90 bytes however short it is written (`{}`, `[]`,
#   `1.5`: 16 MB of `{},` made 5.5 million dicts and 400 MB). An event's own fields are about 20
#   values and keys; a batch holds at most 250 an event on average, counted before parsing
#   (json_values).
MAX_EVENT_BYTES = 6 * 1024
MAX_BODY_BYTES = MAX_BATCH * MAX_EVENT_BYTES
MAX_VALUES_PER_EVENT = 250
MAX_BODY_VALUES = MAX_BATCH * MAX_VALUES_PER_EVENT
_STRUCTURE = (",", ":", "[", "{")


def json_values(text: str, limit: int) -> int:
    """How many values and keys the JSON document `text` holds at most, counted without parsing
    it: its `,` `:` `[` `{` outside strings (every value but the first follows one of them, every
    key a `{` or a `,`). Stops counting once past `limit`.

    Text that is not JSON gets a count no smaller than what json.loads builds before it finds
    the error: both read strings alike (json.decoder.scanstring) and stop at the same place.
    """
    count = sum(text.count(sign) for sign in _STRUCTURE)  # the signs in strings too: an upper
    if count <= limit:  # bound, fast (one pass in C per sign)
        return count
    count = strings = position = 0
    while True:
        quote = text.find('"', position)
        end = len(text) if quote < 0 else quote
        count += sum(text.count(sign, position, end) for sign in _STRUCTURE)
        if quote < 0 or count > limit or strings > limit:
            return max(count, strings)
        strings += 1
        try:
            position = scanstring(text, quote + 1)[1]  # C: the string's end, escapes read
        except ValueError:  # unterminated, or a bad escape: json.loads stops there too
            return max(count, strings)


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
        "duplicate; with other content it is refused. A body holds at most "
        f"{MAX_BODY_BYTES} bytes and {MAX_BODY_VALUES} JSON values and keys (413 beyond)."
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
        # As json.loads decodes bytes: UTF-8 (or UTF-16/32, told by its first bytes).
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError as error:
        return Status(
            400, {"detail": _("The body is not JSON (%(error)s).") % {"error": error} + " " + shape}
        )
    del body  # the text only, from here on
    if json_values(text, MAX_BODY_VALUES) > MAX_BODY_VALUES:
        return Status(
            413,
            {
                "detail": _(
                    "The body holds more than %(max)d JSON values (objects, arrays, strings, "
                    "numbers and keys): a batch holds at most that many, %(per_event)d an event "
                    "on average; send fewer events per call."
                )
                % {"max": MAX_BODY_VALUES, "per_event": MAX_VALUES_PER_EVENT}
            },
        )
    # The common case in one pass: every event well formed, decoded and typed (msgspec); else
    # the body read again the slow way, which says what is wrong in it or in each event.
    events = events_decode(text)
    if events is None:
        try:
            document = loads_json(text)
        except ValueError as error:
            return Status(
                400,
                {"detail": _("The body is not JSON (%(error)s).") % {"error": error} + " " + shape},
            )
        if not isinstance(document, dict) or set(document) != {"events"}:
            return Status(400, {"detail": shape})
        events = document["events"]
        if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
            return Status(400, {"detail": shape})
    del text
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
