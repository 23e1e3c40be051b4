"""Xero contacts as flat records: stable columns picked from the nested vendor JSON.

A Xero contact nests its phones and addresses in typed lists and its dates in the old .NET
form `/Date(1573755038314+0000)/`. Records keep one stable column per fact a customer hub
needs (the DEFAULT phone, the street address, the receivable balance), dates as ISO-8601 UTC
text, and every other top-level scalar under its own name, so a field Xero adds later still
reaches the hub's schema-drift policy instead of vanishing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

KEY = "ContactID"
CURSOR = "UpdatedDateUTC"

COLUMNS: tuple[str, ...] = (
    "ContactID",
    "ContactNumber",
    "AccountNumber",
    "ContactStatus",
    "Name",
    "FirstName",
    "LastName",
    "EmailAddress",
    "Phone",
    "Mobile",
    "Street",
    "City",
    "Region",
    "PostalCode",
    "Country",
    "TaxNumber",
    "IsCustomer",
    "IsSupplier",
    "Balance",
    "UpdatedDateUTC",
)
"""Columns every record has (None when the contact lacks the fact)."""

DOCUMENTED_SCALARS: tuple[str, ...] = (
    "CompanyNumber",
    "BankAccountDetails",
    "TaxNumberType",
    "AccountsReceivableTaxType",
    "AccountsPayableTaxType",
    "DefaultCurrency",
    "XeroNetworkKey",
    "SalesDefaultAccountCode",
    "PurchasesDefaultAccountCode",
    "SalesDefaultLineAmountType",
    "PurchasesDefaultLineAmountType",
    "TrackingCategoryName",
    "TrackingCategoryOption",
    "Website",
    "Discount",
    "MergedToContactID",
    "HasAttachments",
)
"""Other scalar Contact fields of Xero's spec: passed through when present, listed by discover."""

NESTED_HANDLED = frozenset(
    {
        "Addresses",
        "Phones",
        "Balances",
        "ContactGroups",
        "ContactPersons",
        "PaymentTerms",
        "BrandingTheme",
        "BatchPayments",
        "SalesTrackingCategories",
        "PurchasesTrackingCategories",
        "Attachments",
        "ValidationErrors",
        "Warnings",
        "HasValidationErrors",
        "StatusAttributeString",
    }
)
"""Documented fields that are either picked into a stable column or not customer data."""

ADDRESS_FIELDS = ("City", "Region", "PostalCode", "Country")
ADDRESS_LINES = ("AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4")
PHONE_PARTS = ("PhoneCountryCode", "PhoneAreaCode", "PhoneNumber")
PHONE_COLUMNS = {"Phone": "DEFAULT", "Mobile": "MOBILE"}
"""Record column -> the Xero PhoneType it shows."""

_NET_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_xero_date(text: str) -> datetime:
    """The UTC instant of a `/Date(ms+zzzz)/` value (also accepts ISO-8601 text).

    The milliseconds are since the Unix epoch in UTC; the optional offset only says where the
    value was shown, so it does not shift the instant.

    Raises:
        ValueError: the text is neither form.
    """
    match = _NET_DATE.match(text.strip())
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_iso(value: datetime) -> str:
    """ISO-8601 UTC text with milliseconds: sorts as text in time order."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def format_xero_date(value: datetime) -> str:
    """The `/Date(ms+0000)/` form Xero uses in JSON."""
    return f"/Date({round(value.timestamp() * 1000)}+0000)/"


def iso_date(text: str) -> str:
    """`/Date(..)/` (or ISO) text as ISO-8601 UTC text; ValueError when malformed."""
    return format_iso(parse_xero_date(text))


def contact_to_record(contact: Mapping[str, Any]) -> dict[str, Any]:
    """One flat record of a Xero contact; ValueError when it has no id or a broken date."""
    contact_id = contact.get(KEY)
    if not isinstance(contact_id, str) or not contact_id:
        raise ValueError("contact has no ContactID")
    updated = contact.get(CURSOR)
    if not isinstance(updated, str):
        raise ValueError(f"contact {contact_id} has no UpdatedDateUTC")
    try:
        updated_iso = iso_date(updated)
    except ValueError:
        raise ValueError(
            f"contact {contact_id}: UpdatedDateUTC {updated!r} is not a date"
        ) from None
    record = flat_contact({**contact, CURSOR: None})
    record[CURSOR] = updated_iso
    return record


def flat_contact(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The record columns of a contact without checking its id and date (for comparisons)."""
    record: dict[str, Any] = {name: None for name in COLUMNS + DOCUMENTED_SCALARS}
    for name, value in _scalars(contact):
        try:
            record[name] = _scalar(value)
        except ValueError:
            record[name] = value
    record.update(_phones(contact.get("Phones")))
    record.update(_address(contact.get("Addresses")))
    record["Balance"] = _receivable(contact.get("Balances"))
    return record


def phone_text(phone: Mapping[str, Any] | None) -> str | None:
    """Country code, area code and number joined by spaces; None when all are empty."""
    if not phone:
        return None
    parts = [str(phone.get(p) or "").strip() for p in PHONE_PARTS]
    text = " ".join(p for p in parts if p)
    return text or None


def chosen_address(addresses: Any) -> Mapping[str, Any] | None:
    """The address records show: STREET when it holds anything, else POBOX, else None."""
    by_type = {a.get("AddressType"): a for a in addresses or () if isinstance(a, Mapping)}
    for kind in ("STREET", "POBOX"):
        address = by_type.get(kind)
        if address and any(address.get(f) for f in ADDRESS_LINES + ADDRESS_FIELDS):
            return address
    return None


def street_text(address: Mapping[str, Any] | None) -> str | None:
    """An address's non-empty lines joined by ', '; None when it has none."""
    if not address:
        return None
    lines = [str(address.get(f) or "").strip() for f in ADDRESS_LINES]
    text = ", ".join(line for line in lines if line)
    return text or None


def _scalars(contact: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Top-level scalars under their names; unknown objects flattened with '.', lists as JSON."""
    for name, value in contact.items():
        if name in NESTED_HANDLED or name in ("Phone", "Mobile", "Street", "Balance"):
            continue
        if isinstance(value, Mapping):
            yield from _flatten(name, value)
        elif isinstance(value, list):
            yield name, json.dumps(value, sort_keys=True, default=str)
        else:
            yield name, value


def _flatten(prefix: str, value: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, item in value.items():
        if isinstance(item, Mapping):
            yield from _flatten(f"{prefix}.{name}", item)
        elif isinstance(item, list):
            yield f"{prefix}.{name}", json.dumps(item, sort_keys=True, default=str)
        else:
            yield f"{prefix}.{name}", item


def _scalar(value: Any) -> Any:
    """A scalar as records carry it: .NET dates become ISO text, empty text becomes None."""
    if isinstance(value, str):
        if not value:
            return None
        if _NET_DATE.match(value):
            return iso_date(value)
    return value


def _phones(phones: Any) -> dict[str, str | None]:
    by_type = {p.get("PhoneType"): p for p in phones or () if isinstance(p, Mapping)}
    return {column: phone_text(by_type.get(kind)) for column, kind in PHONE_COLUMNS.items()}


def _address(addresses: Any) -> dict[str, str | None]:
    address = chosen_address(addresses)
    values: dict[str, str | None] = {"Street": street_text(address)}
    for name in ADDRESS_FIELDS:
        text = str(address.get(name) or "").strip() if address else ""
        values[name] = text or None
    return values


def _receivable(balances: Any) -> float | None:
    if not isinstance(balances, Mapping):
        return None
    receivable = balances.get("AccountsReceivable")
    if not isinstance(receivable, Mapping):
        return None
    outstanding = receivable.get("Outstanding")
    return float(outstanding) if isinstance(outstanding, int | float) else None
