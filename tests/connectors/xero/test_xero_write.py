"""Write-back through Prism: applied, unchanged without a POST, rejected per contact, replays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from tests.fakes.server import Fault
from tests.fakes.xero import XeroFake

from crmhub.connectors.base import RowStatus, Upsert
from crmhub.connectors.xero import XeroConnector
from crmhub.errors import SourceContractError

MakeConnector = Callable[..., XeroConnector]
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def upsert(contact_id: str | None, key: str, **fields: object) -> Upsert:
    return Upsert(contact_id, f"G-{key}", fields, f"idem-{key}")


def statuses(report) -> list[tuple[str, str]]:
    return [(r.status.value, r.reason) for r in report.rows]


def posts(fake: XeroFake) -> list:
    return fake.api_requests("/Contacts", "POST")


def test_applied_then_unchanged_without_a_post(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha", EmailAddress="a@old.test", updated=T0)
    b = fake.add_contact(Name="Beta", EmailAddress="b@same.test", updated=T0)
    rows = [
        upsert(a, "a", AccountNumber="G-a", EmailAddress="a@new.test"),
        upsert(b, "b", EmailAddress="b@same.test"),
    ]
    first = make_connector().write("contacts", rows)
    assert statuses(first) == [("applied", ""), ("unchanged", "")]
    assert [(r.external_id, r.idempotency_key) for r in first.rows] == [
        (a, "idem-a"),
        (b, "idem-b"),
    ]
    (post,) = posts(fake)
    assert post.param("summarizeErrors") == "false"
    assert post.body == {
        "Contacts": [{"ContactID": a, "AccountNumber": "G-a", "EmailAddress": "a@new.test"}]
    }
    assert len(post.header("idempotency-key") or "") == 64
    assert fake.contact(a)["AccountNumber"] == "G-a"
    assert fake.contact(b)["UpdatedDateUTC"].startswith("/Date(1714554000000")  # untouched

    second = make_connector().write("contacts", rows)
    assert statuses(second) == [("unchanged", ""), ("unchanged", "")]
    assert len(posts(fake)) == 1  # the second write sent nothing
    lookups = fake.api_requests("/Contacts", "GET")
    assert lookups[-1].param("IDs") == ",".join(sorted([a, b]))


def test_invalid_contact_is_rejected_the_others_applied(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha")
    b = fake.add_contact(Name="Beta")
    c = fake.add_contact(Name="Gamma")
    rows = [
        upsert(a, "a", EmailAddress="alpha@example.com"),
        upsert(b, "b", EmailAddress="not an email"),
        upsert(c, "c", Name="Alpha"),  # Xero wants unique names
    ]
    report = make_connector().write("contacts", rows)
    assert [r.status for r in report.rows] == [
        RowStatus.APPLIED,
        RowStatus.REJECTED,
        RowStatus.REJECTED,
    ]
    assert report.rows[1].reason == "Xero: Email address must be valid."
    assert "already assigned to another contact" in report.rows[2].reason
    assert fake.contact(a)["EmailAddress"] == "alpha@example.com"
    assert fake.contact(b)["EmailAddress"] == ""


def test_rows_xero_cannot_take_are_rejected_before_sending(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha")
    rows = [
        upsert(a, "golden", crmhub_id="G-1"),
        upsert(a, "ro", IsCustomer=True),
        upsert("c001", "notuuid", EmailAddress="x@example.com"),
        upsert("00000000-0000-0000-0000-0000000000ab", "gone", EmailAddress="x@example.com"),
        upsert(a, "long", PostalCode="9" * 60),
        upsert(None, "noname", EmailAddress="x@example.com"),
    ]
    report = make_connector().write("contacts", rows)
    reasons = [r.reason for r in report.rows]
    assert all(r.status is RowStatus.REJECTED for r in report.rows)
    assert "no field 'crmhub_id'" in reasons[0] and "AccountNumber" in reasons[0]
    assert "cannot be written" in reasons[1]
    assert "not a Xero ContactID" in reasons[2]
    assert "no Xero contact with ContactID" in reasons[3]
    assert "at most 50" in reasons[4]
    assert "needs a Name" in reasons[5]
    assert posts(fake) == []


def test_phone_and_street_round_trip(fake: XeroFake, make_connector: MakeConnector) -> None:
    a = fake.add_contact(
        Name="Alpha",
        Phones=[{"PhoneType": "DEFAULT", "PhoneNumber": "847-1294", "PhoneAreaCode": "(626)"}],
        Addresses=[{"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Palo Alto"}],
    )
    rows = [
        upsert(a, "a", Phone="+1 626 555 0100", Street="12 High St, Unit 4", PostalCode="94020")
    ]
    connector = make_connector()
    assert statuses(connector.write("contacts", rows)) == [("applied", "")]
    (record,) = [r for b in connector.read("contacts", None) for r in b.records]
    assert record["Phone"] == "+1 626 555 0100"
    assert (record["Street"], record["City"], record["PostalCode"]) == (
        "12 High St, Unit 4",
        "Palo Alto",
        "94020",
    )
    phones = {p["PhoneType"] for p in posts(fake)[0].body["Contacts"][0]["Phones"]}
    assert phones == {"DEFAULT", "DDI", "FAX", "MOBILE"}  # the whole list is sent
    assert statuses(connector.write("contacts", rows)) == [("unchanged", "")]


def test_new_contact_is_created(fake: XeroFake, make_connector: MakeConnector) -> None:
    report = make_connector().write(
        "contacts", [upsert(None, "new", Name="Newco", AccountNumber="G-9")]
    )
    assert statuses(report) == [("applied", "")]
    (created,) = fake.contacts.values()
    assert (created.data["Name"], created.data["AccountNumber"]) == ("Newco", "G-9")


def test_batches_follow_batch_size(fake: XeroFake, make_connector: MakeConnector) -> None:
    made = [fake.add_contact(Name=f"C{n}") for n in range(5)]
    rows = [upsert(c, str(n), AccountNumber=f"G-{n}") for n, c in enumerate(made)]
    report = make_connector(batch_size=2).write("contacts", rows)
    assert report.count(RowStatus.APPLIED) == 5
    assert [len(p.body["Contacts"]) for p in posts(fake)] == [2, 2, 1]
    keys = {p.header("idempotency-key") for p in posts(fake)}
    assert len(keys) == 3


def test_post_retried_after_5xx_with_the_same_key(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha")
    fake.fail_posts(503, applied=True)  # saved, but the answer is lost on its way back
    report = make_connector().write("contacts", [upsert(a, "a", EmailAddress="a@new.test")])
    assert statuses(report) == [("applied", "")]
    sent = [p.header("idempotency-key") for p in posts(fake)]
    assert len(sent) == 2 and sent[0] == sent[1]
    assert fake.replayed == 1  # the retry was answered from Xero's replay store, not re-applied


def test_later_write_after_an_edit_in_xero_gets_a_new_key(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha", EmailAddress="a@old.test")
    rows = [upsert(a, "a", EmailAddress="a@new.test")]
    make_connector().write("contacts", rows)
    fake.update_contact(a, EmailAddress="a@edited-in-xero.test")
    assert statuses(make_connector().write("contacts", rows)) == [("applied", "")]
    keys = [p.header("idempotency-key") for p in posts(fake)]
    assert len(set(keys)) == 2 and fake.replayed == 0
    assert fake.contact(a)["EmailAddress"] == "a@new.test"


def test_whole_batch_refused_rejects_its_rows(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha")
    b = fake.add_contact(Name="Beta")
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
    }
    fake.fail_posts(400, body=body)
    rows = [upsert(a, "a", EmailAddress="a@new.test"), upsert(b, "b", EmailAddress="b@new.test")]
    report = make_connector(batch_size=1).write("contacts", rows)
    assert statuses(report) == [
        ("rejected", "Xero refused the batch (10 ValidationException)"),
        ("applied", ""),
    ]


def test_400_on_the_lookup_is_a_contract_error(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="Alpha")
    connector = make_connector()
    connector.check()
    body = {"ErrorNumber": 16, "Type": "QueryParseException", "Message": "bad IDs"}
    fake.api.inject(Fault(400, body=body, path_prefix="/Contacts"))
    with pytest.raises(SourceContractError, match="vendor code 16 QueryParseException"):
        connector.write("contacts", [upsert(a, "a", EmailAddress="a@new.test")])


def test_a_created_contact_reports_its_new_contact_id(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    old = fake.add_contact(Name="Oldco", updated=T0)
    rows = [
        upsert(None, "new", Name="Newco"),
        upsert(old, "old", Name="Oldco Ltd"),
        upsert(None, "bad", Name="Badco", EmailAddress="not an email"),  # Xero refuses it
    ]
    report = make_connector().write("contacts", rows)
    created = next(c for c in fake.contacts.values() if c.data["Name"] == "Newco")
    assert [(r.external_id, r.idempotency_key, r.status.value) for r in report.rows] == [
        (created.data["ContactID"], "idem-new", "applied"),
        (old, "idem-old", "applied"),
        (None, "idem-bad", "rejected"),
    ]
