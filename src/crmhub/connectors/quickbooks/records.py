"""QBO Customer JSON <-> flat records with stable columns, and the golden id's place in QBO.

The same table (`FIELDS`) drives both directions, so a column read from QBO is written back to
exactly the place it came from. Fields QBO adds later (or that this table leaves out) are kept
under their flattened names, so schema drift shows in the records instead of being dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FIELDS: dict[str, tuple[str, str | None]] = {
    "DisplayName": ("DisplayName", None),
    "Title": ("Title", None),
    "GivenName": ("GivenName", None),
    "MiddleName": ("MiddleName", None),
    "FamilyName": ("FamilyName", None),
    "Suffix": ("Suffix", None),
    "CompanyName": ("CompanyName", None),
    "PrimaryEmailAddr": ("PrimaryEmailAddr", "Address"),
    "PrimaryPhone": ("PrimaryPhone", "FreeFormNumber"),
    "Mobile": ("Mobile", "FreeFormNumber"),
    "AlternatePhone": ("AlternatePhone", "FreeFormNumber"),
    "Fax": ("Fax", "FreeFormNumber"),
    "WebAddr": ("WebAddr", "URI"),
    "BillAddrLine1": ("BillAddr", "Line1"),
    "BillAddrLine2": ("BillAddr", "Line2"),
    "BillAddrCity": ("BillAddr", "City"),
    "BillAddrPostalCode": ("BillAddr", "PostalCode"),
    "BillAddrCountry": ("BillAddr", "Country"),
    "BillAddrCountrySubDivisionCode": ("BillAddr", "CountrySubDivisionCode"),
    "Notes": ("Notes", None),
    "AcctNum": ("AcctNum", None),
    "ResaleNum": ("ResaleNum", None),
    "PrimaryTaxIdentifier": ("PrimaryTaxIdentifier", None),
    "Active": ("Active", None),
}
"""Writable columns: record column -> (top-level QBO key, key inside that object or None)."""

READ_ONLY: dict[str, tuple[str, str | None]] = {
    "Id": ("Id", None),
    "SyncToken": ("SyncToken", None),
    "FullyQualifiedName": ("FullyQualifiedName", None),
    "Balance": ("Balance", None),
    "BalanceWithJobs": ("BalanceWithJobs", None),
    "CurrencyRef": ("CurrencyRef", "value"),
    "ParentRef": ("ParentRef", "value"),
    "Job": ("Job", None),
    "Taxable": ("Taxable", None),
    "CreateTime": ("MetaData", "CreateTime"),
}
CURSOR = "LastUpdatedTime"
KEY = "Id"
DELETED = "Deleted"
_CONSUMED = {"domain", "sparse", "status", "MetaData"} | {
    top for top, _ in (*FIELDS.values(), *READ_ONLY.values())
}


def stable_columns(golden_id_column: str) -> tuple[str, ...]:
    """Columns every record has, in a fixed order (what `discover()` reports)."""
    return (*READ_ONLY, *FIELDS, golden_id_column, CURSOR, DELETED)


class GoldenIdSlot:
    """Where the golden id lives in a Customer: a whole field, or a tagged line of `Notes`.

    QBO v3 has no custom fields. `Notes` is the default home because it exists in every
    edition and region; the id is kept as one line `<column>: <id>` and the rest of the notes
    stays as people wrote it (the record's `Notes` column shows the notes without that line).
    """

    def __init__(self, column: str, store: str) -> None:
        self.column, self.store = column, store
        self._line = re.compile(
            rf"^[ \t]*{re.escape(column)}:[ \t]*(\S*)[ \t]*(?:\r?\n|\Z)", re.MULTILINE
        )

    @property
    def in_notes(self) -> bool:
        """True when the id is a tagged line inside `Notes`."""
        return self.store == "Notes"

    def read(self, entity: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(golden id, the store field's value as the record shows it) of a Customer."""
        value = entity.get(self.store)
        if not self.in_notes:
            return (None if value in (None, "") else str(value)), value
        text = str(value or "")
        match = self._line.search(text)
        if match is None:
            return None, value
        rest = self._line.sub("", text).strip("\n")
        return (match.group(1) or None), (rest or None)

    def write(self, current: Mapping[str, Any], golden: Any, notes: Any = ...) -> str:
        """The new value of the store field that holds `golden` (and `notes` if given)."""
        if not self.in_notes:
            return "" if golden is None else str(golden)
        _, shown = self.read(current)
        text = shown if notes is ... else notes
        text = str(text or "").strip("\n")
        tag = f"{self.column}: {golden}" if golden not in (None, "") else ""
        return "\n".join(part for part in (text, tag) if part)


def to_record(entity: Mapping[str, Any], slot: GoldenIdSlot) -> dict[str, Any]:
    """A flat record of one Customer entity; raises ValueError when it has no Id or cursor."""
    cid = entity.get("Id")
    if cid in (None, "") or isinstance(cid, (dict, list)):
        raise ValueError("Customer without an Id")
    updated = entity_time(entity)
    if entity.get("status") == "Deleted":
        record = dict.fromkeys(stable_columns(slot.column))
        record.update({KEY: str(cid), CURSOR: updated.isoformat(), DELETED: True, "Active": False})
        return record
    record = {col: _pick(entity, top, sub) for col, (top, sub) in {**READ_ONLY, **FIELDS}.items()}
    record[KEY] = str(cid)
    record[slot.column], record[slot.store] = slot.read(entity)
    record[CURSOR] = updated.isoformat()
    record["CreateTime"] = _utc_text(record["CreateTime"])
    record[DELETED] = False
    record.update(_extras(entity))
    return record


def entity_time(entity: Mapping[str, Any]) -> datetime:
    """MetaData.LastUpdatedTime in UTC; ValueError when missing or not a date-time."""
    meta = entity.get("MetaData")
    text = meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None
    if not isinstance(text, str):
        raise ValueError("Customer without MetaData.LastUpdatedTime")
    return parse_time(text)


def parse_time(text: str) -> datetime:
    """A QBO date-time (company-local offset) as aware UTC; naive text is read as UTC."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO date-time: {text[:40]!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _utc_text(value: Any) -> Any:
    """A date-time as UTC ISO text like the cursor; anything unreadable as it came."""
    try:
        return parse_time(value).isoformat() if isinstance(value, str) else value
    except ValueError:
        return value


def _pick(entity: Mapping[str, Any], top: str, sub: str | None) -> Any:
    value = entity.get(top)
    if sub is not None:
        value = value.get(sub) if isinstance(value, Mapping) else None
    return _scalar(value)


def _extras(entity: Mapping[str, Any]) -> dict[str, Any]:
    """Fields outside the stable columns, flattened with '.' (lists as JSON text)."""
    extras: dict[str, Any] = {}
    for key, value in entity.items():
        if key not in _CONSUMED:
            _flatten(key, value, extras)
    return extras


def _flatten(name: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{name}.{key}", item, into)
    else:
        into[name] = _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value
