"""The two HubSpot object types as streams, and HubSpot objects as flat records.

A HubSpot object is `{id, properties: {name: text}, createdAt, updatedAt, archived}`; a record
is the same flattened: `id`, each property under its own name, then the three object fields.
Properties nobody asked for (HubSpot added one, or an app returns more) are kept under their
names too, so the hub's schema-drift policy sees them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmhub.connectors.base import RejectedRecord

OBJECT_FIELDS = ("createdAt", "updatedAt", "archived")
"""Object-level fields every record carries after its properties."""

READ_ONLY_PROPERTIES = frozenset(
    {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}
)
"""Properties HubSpot sets itself; write-back may not send them."""


@dataclass(frozen=True)
class ObjectStream:
    """One CRM object type: its name in URLs, its modified-date property, what it reads."""

    name: str
    modified_property: str
    default_properties: tuple[str, ...]
    default_mapping: dict[str, str] = field(default_factory=dict)


STREAMS: dict[str, ObjectStream] = {
    "contacts": ObjectStream(
        "contacts",
        "lastmodifieddate",
        (
            "firstname", "lastname", "email", "phone", "mobilephone", "address", "city", "zip",
            "country", "company", "lastmodifieddate", "hs_object_id",
        ),
        {
            "first_name": "firstname", "last_name": "lastname", "email": "email",
            "phone": "phone", "street": "address", "city": "city", "postal_code": "zip",
            "country": "country", "company": "company", "source_updated_at": "lastmodifieddate",
        },
    ),
    "companies": ObjectStream(
        "companies",
        "hs_lastmodifieddate",
        ("name", "domain", "phone", "address", "city", "zip", "country", "hs_lastmodifieddate"),
        {
            "company": "name", "phone": "phone", "street": "address", "city": "city",
            "postal_code": "zip", "country": "country", "source_updated_at": "hs_lastmodifieddate",
        },
    ),
}  # fmt: skip


def record_columns(properties: tuple[str, ...]) -> tuple[str, ...]:
    """The stable columns of a stream reading `properties`."""
    return ("id", *(p for p in properties if p not in ("id", *OBJECT_FIELDS)), *OBJECT_FIELDS)


def parse_time(text: Any) -> datetime:
    """A HubSpot timestamp (ISO 8601 text, `Z` or offset) as an aware datetime.

    Raises:
        ValueError: not a timestamp.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a timestamp")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """HubSpot's timestamp text: UTC with milliseconds and `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch: what search filters compare dates with."""
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Converted:
    """A HubSpot object as a record, with its id and modified time in ms (for the cursor)."""

    record: dict[str, Any]
    object_id: str
    modified_ms: int
    modified_text: str


def convert_object(
    obj: Any, stream: ObjectStream, properties: tuple[str, ...]
) -> Converted | RejectedRecord:
    """Flatten one object; an object the connector cannot use becomes a RejectedRecord."""
    raw = _raw_text(obj)
    object_id = obj.get("id") if isinstance(obj, dict) else None
    position = f"{stream.name} id {object_id}" if object_id else f"{stream.name} object"
    props = obj.get("properties") if isinstance(obj, dict) else None
    if not object_id or not isinstance(props, dict):
        return RejectedRecord(position, "not a HubSpot object (no id or no properties)", raw)
    modified = props.get(stream.modified_property)
    try:
        moment = parse_time(modified)
    except ValueError:
        reason = f"{stream.modified_property} {modified!r} is not a timestamp"
        return RejectedRecord(position, reason, raw)
    record: dict[str, Any] = {"id": str(object_id)}
    for name in properties:
        record[name] = _scalar(props.get(name))
    for name, value in props.items():
        if name not in record and name not in OBJECT_FIELDS:
            record[name] = _scalar(value)
    for name in OBJECT_FIELDS:
        record[name] = _scalar(obj.get(name))
    return Converted(record, str(object_id), to_epoch_ms(moment), str(modified))


def _scalar(value: Any) -> Any:
    """Keep text, numbers, booleans and None; anything nested becomes JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _raw_text(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, default=str)[:4000]
    except (TypeError, ValueError):
        return repr(obj)[:4000]
