"""Write-back to Xero contacts: compare first, then POST only what changed, batch by batch.

Xero moves a contact's UpdatedDateUTC on every POST, even one that changes nothing, and every
call spends the tenant's 60-a-minute quota; so the current contacts are fetched first (GET
/Contacts?IDs=...) and rows whose values already match are reported `unchanged` without a
write. Changed rows go out in batches with `summarizeErrors=false`, so one contact Xero refuses
(an invalid email, a duplicate name) is rejected on its own while the rest are applied.

Each batch carries an `Idempotency-Key` derived from the rows' idempotency keys, the contacts'
versions (UpdatedDateUTC) and the payload: a retry after a lost answer is replayed by Xero
instead of applied twice, while the same write after someone edited the contact in Xero gets a
new key and is applied again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport
from crmhub.connectors.http import HttpClient, HttpStatusError
from crmhub.connectors.xero.records import (
    ADDRESS_FIELDS,
    ADDRESS_LINES,
    COLUMNS,
    DOCUMENTED_SCALARS,
    PHONE_COLUMNS,
    chosen_address,
    flat_contact,
)
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

MAX_LENGTH = {
    "ContactNumber": 50,
    "AccountNumber": 50,
    "Name": 255,
    "FirstName": 255,
    "LastName": 255,
    "CompanyNumber": 50,
    "EmailAddress": 255,
    "TaxNumber": 50,
    "Phone": 50,
    "Mobile": 50,
    "Street": 500,
    "City": 255,
    "Region": 255,
    "PostalCode": 50,
    "Country": 50,
}
"""Xero's documented maximum lengths; a longer value would fail the whole batch."""

WRITABLE_SCALARS = frozenset(
    {
        "ContactNumber",
        "AccountNumber",
        "ContactStatus",
        "Name",
        "FirstName",
        "LastName",
        "EmailAddress",
        "TaxNumber",
        "CompanyNumber",
        "BankAccountDetails",
        "TaxNumberType",
        "AccountsReceivableTaxType",
        "AccountsPayableTaxType",
        "DefaultCurrency",
        "SalesDefaultAccountCode",
        "PurchasesDefaultAccountCode",
    }
)
ADDRESS_COLUMNS = ("Street", *ADDRESS_FIELDS)
WRITABLE = WRITABLE_SCALARS | set(PHONE_COLUMNS) | set(ADDRESS_COLUMNS)
STATUSES = ("ACTIVE", "ARCHIVED", "GDPRREQUEST")
ID_CHUNK = 50
"""ContactIDs per lookup request (keeps the URL short)."""


@dataclass
class _Op:
    """One row to send: its position, the Xero JSON and the contact version it was based on."""

    index: int
    item: dict[str, Any]
    version: str


class ContactsWriter:
    """One `write()` call's work: plan, compare, post, report (rows in input order)."""

    def __init__(self, http: HttpClient, *, batch_size: int, source: str | None) -> None:
        self.http, self.batch_size, self.source = http, batch_size, source

    def write(self, rows: Sequence[Upsert]) -> WriteReport:
        """Report every row as applied, unchanged or rejected (with Xero's reason)."""
        results: dict[int, RowResult] = {}
        planned: list[tuple[int, dict[str, str]]] = []
        for index, row in enumerate(rows):
            problem = check_row(row)
            if problem:
                results[index] = _result(row, RowStatus.REJECTED, problem)
            else:
                planned.append((index, {k: _text(v) for k, v in row.fields.items()}))
        current = self._current([rows[i].external_id for i, _ in planned])
        ops = [
            op
            for i, values in planned
            if (op := self._decide(i, rows[i], values, current, results))
        ]
        for start in range(0, len(ops), self.batch_size):
            self._post(ops[start : start + self.batch_size], rows, results)
        report = WriteReport([results[i] for i in range(len(rows))])
        log.info(
            "%s: wrote %d contacts: %d applied, %d unchanged, %d rejected",
            self.source or "xero",
            len(rows),
            report.count(RowStatus.APPLIED),
            report.count(RowStatus.UNCHANGED),
            report.count(RowStatus.REJECTED),
        )
        return report

    def _current(self, ids: Sequence[str | None]) -> dict[str, dict[str, Any]]:
        """The stored contacts of `ids`, by ContactID (archived ones included)."""
        wanted = sorted({i for i in ids if i})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), ID_CHUNK):
            params = {"IDs": ",".join(wanted[start : start + ID_CHUNK]), "includeArchived": "true"}
            body = self.http.get_json("Contacts", params=params)
            for contact in _contacts_of(body, self.source):
                found[str(contact.get("ContactID", "")).lower()] = contact
        return found

    def _decide(
        self,
        index: int,
        row: Upsert,
        values: dict[str, str],
        current: dict[str, dict[str, Any]],
        results: dict[int, RowResult],
    ) -> _Op | None:
        """Compare with the stored contact; record the outcome and return what to send."""
        if row.external_id is None:
            results[index] = _result(row, RowStatus.APPLIED)
            return _Op(index, to_xero(values, None), "new")
        contact = current.get(row.external_id.lower())
        if contact is None:
            reason = f"no Xero contact with ContactID {row.external_id}"
            results[index] = _result(row, RowStatus.REJECTED, reason)
            return None
        stored = flat_contact(contact)
        changed = {k: v for k, v in values.items() if _text(stored.get(k)) != v}
        if not changed:
            results[index] = _result(row, RowStatus.UNCHANGED)
            return None
        results[index] = _result(row, RowStatus.APPLIED)
        version = str(contact.get("UpdatedDateUTC", ""))
        item = {"ContactID": contact["ContactID"], **to_xero(changed, contact)}
        _apply_locally(contact, item)
        return _Op(index, item, version)

    def _post(
        self, batch: list[_Op], rows: Sequence[Upsert], results: dict[int, RowResult]
    ) -> None:
        key = batch_key([(rows[op.index].idempotency_key, op.version, op.item) for op in batch])
        try:
            response = self.http.request(
                "POST",
                "Contacts",
                params={"summarizeErrors": "false"},
                json={"Contacts": [op.item for op in batch]},
                idempotency_key=key,
            )
        except HttpStatusError as exc:
            if exc.status != 400:
                raise
            reason = f"Xero refused the batch ({exc.vendor_code or '400 Bad Request'})"
            for op in batch:
                results[op.index] = _result(rows[op.index], RowStatus.REJECTED, reason)
            return
        answers = _contacts_of(self.http.json_of(response, "POST", "Contacts"), self.source)
        if len(answers) != len(batch):
            raise SourceContractError(
                f"POST /Contacts answered {len(answers)} contacts for {len(batch)} sent",
                source=self.source,
            )
        for op, answer in zip(batch, answers, strict=True):
            row, errors = rows[op.index], validation_errors(answer)
            if errors:
                results[op.index] = _result(row, RowStatus.REJECTED, errors)
            elif row.external_id is None:
                contact_id = self._created_id(answer)
                results[op.index] = RowResult(contact_id, row.idempotency_key, RowStatus.APPLIED)

    def _created_id(self, answer: Mapping[str, Any]) -> str:
        """The ContactID Xero gave a new contact; the hub keeps it as the row's external id."""
        contact_id = answer.get("ContactID")
        if not isinstance(contact_id, str) or not _is_uuid(contact_id):
            raise SourceContractError(
                "POST /Contacts created a contact without answering its ContactID",
                source=self.source,
            )
        return contact_id


def check_row(row: Upsert) -> str:
    """Why a row cannot be sent as it is ('' when it can)."""
    if row.external_id is not None and not _is_uuid(row.external_id):
        return f"{row.external_id!r} is not a Xero ContactID (a UUID)"
    if row.external_id is None and not row.fields.get("Name"):
        return "a new Xero contact needs a Name"
    for name, value in row.fields.items():
        problem = _check_field(name, value)
        if problem:
            return problem
    return ""


def to_xero(values: Mapping[str, str], contact: Mapping[str, Any] | None) -> dict[str, Any]:
    """Record fields as Xero contact JSON; phones and addresses keep their other parts."""
    item: dict[str, Any] = {k: v for k, v in values.items() if k in WRITABLE_SCALARS}
    phones = {kind: values[col] for col, kind in PHONE_COLUMNS.items() if col in values}
    if phones:
        item["Phones"] = _phones(phones, contact)
    address = {col: values[col] for col in ADDRESS_COLUMNS if col in values}
    if address:
        item["Addresses"] = _addresses(address, contact)
    return item


def validation_errors(contact: Mapping[str, Any]) -> str:
    """Xero's validation messages for one contact of a POST answer, '' when it was saved."""
    errors = contact.get("ValidationErrors") or []
    messages = [str(e.get("Message", "")).strip() for e in errors if isinstance(e, Mapping)]
    messages = [m for m in messages if m]
    if messages:
        return "Xero: " + "; ".join(messages)
    if contact.get("HasValidationErrors") is True:
        return "Xero: validation failed (no message given)"
    return ""


def batch_key(parts: Sequence[tuple[str, str, Mapping[str, Any]]]) -> str:
    """The Idempotency-Key of one batch (64 hex digits; Xero allows up to 128 characters)."""
    digest = hashlib.sha256()
    for key, version, item in parts:
        digest.update(json.dumps([key, version, item], sort_keys=True).encode())
    return digest.hexdigest()


def _phones(numbers: Mapping[str, str], contact: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every phone of the contact, the changed types holding the new number as one text.

    The whole list is sent so that no phone is lost whether Xero merges or replaces the list.
    """
    phones = [copy.deepcopy(p) for p in (contact or {}).get("Phones") or [] if isinstance(p, dict)]
    by_type = {p.get("PhoneType"): p for p in phones}
    for kind, number in numbers.items():
        entry = {
            "PhoneType": kind,
            "PhoneNumber": number,
            "PhoneAreaCode": "",
            "PhoneCountryCode": "",
        }
        if kind in by_type:
            by_type[kind].update(entry)
        else:
            phones.append(entry)
    return phones


def _addresses(
    values: Mapping[str, str], contact: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Every address of the contact, the one records show (STREET unless only POBOX is filled)
    updated with `values`; a street text goes to AddressLine1 and clears the other lines."""
    addresses = [
        copy.deepcopy(a) for a in (contact or {}).get("Addresses") or [] if isinstance(a, dict)
    ]
    shown = chosen_address(addresses)
    kind = shown.get("AddressType", "STREET") if shown else "STREET"
    target = next((a for a in addresses if a.get("AddressType") == kind), None)
    if target is None:
        target = {"AddressType": kind}
        addresses.append(target)
    if "Street" in values:
        target.update(dict.fromkeys(ADDRESS_LINES, ""))
        target["AddressLine1"] = values["Street"]
    target.update({k: v for k, v in values.items() if k in ADDRESS_FIELDS})
    return addresses


def _apply_locally(contact: dict[str, Any], item: Mapping[str, Any]) -> None:
    """Update the fetched contact as Xero will, so a later row for it compares correctly."""
    for name, value in item.items():
        if name in ("Phones", "Addresses"):
            kind = "PhoneType" if name == "Phones" else "AddressType"
            entries = {e.get(kind): e for e in contact.setdefault(name, [])}
            for entry in value:
                if entry[kind] in entries:
                    entries[entry[kind]].update(entry)
                else:
                    contact[name].append(dict(entry))
        else:
            contact[name] = value


def _check_field(name: str, value: Any) -> str:
    if name not in WRITABLE:
        if name in COLUMNS or name in DOCUMENTED_SCALARS:
            return f"{name} cannot be written through the Xero API"
        return (
            f"Xero contacts have no field {name!r}; writable fields are "
            f"{', '.join(sorted(WRITABLE))} (for the golden id use AccountNumber or ContactNumber)"
        )
    if isinstance(value, dict | list):
        return f"{name} must be a single value, not {type(value).__name__}"
    text = _text(value)
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(text) > limit:
        return f"{name} is {len(text)} characters; Xero allows at most {limit}"
    if name == "ContactStatus" and text not in STATUSES:
        return f"ContactStatus must be one of {', '.join(STATUSES)}"
    return ""


def _contacts_of(body: Any, source: str | None) -> list[dict[str, Any]]:
    contacts = body.get("Contacts") if isinstance(body, Mapping) else None
    if not isinstance(contacts, list):
        raise SourceContractError("Xero answered without a Contacts list", source=source)
    return [c for c in contacts if isinstance(c, dict)]


def _text(value: Any) -> str:
    """A value as Xero stores it: text, with None as the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)
