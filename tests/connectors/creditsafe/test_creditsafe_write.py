"""Write-back into a monitoring portfolio: applied, unchanged, updated, rejected per company."""

from __future__ import annotations

from typing import Any

import pytest
from tests.connectors.creditsafe.creditsafe_support import PORTFOLIO, MakeConnector, seed
from tests.fakes.creditsafe import CreditsafeFake

from crmhub.connectors.base import RowStatus, Upsert
from crmhub.errors import SourceContractError

ADDS = f"/v1/monitoring/portfolios/{PORTFOLIO}/companies"


def upsert(company_id: str | None, golden: str, **fields: Any) -> Upsert:
    return Upsert(company_id, golden, fields, f"{golden}:v1")


def statuses(report: Any) -> list[str]:
    return [r.status.value for r in report.rows]


def test_write_adds_then_is_unchanged_without_requests(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 3, portfolio=None)
    rows = [upsert(i, f"G-{n}", free_text=f"customer {n}") for n, i in enumerate(ids)]
    first = make_connector().write("companies", rows)
    assert statuses(first) == ["applied"] * 3
    entry = fake.portfolios[PORTFOLIO][ids[0]]
    assert (entry.personal_reference, entry.free_text) == ("G-0", "customer 0")
    [add] = [r for r in fake.calls("POST", ADDS) if r.body["id"] == ids[0]]
    assert add.body == {"id": ids[0], "personalReference": "G-0", "freeText": "customer 0"}

    before = len(fake.requests)
    second = make_connector().write("companies", rows)
    assert statuses(second) == ["unchanged"] * 3
    sent = [(r.method, r.path) for r in fake.requests[before:]]
    assert sent == [("POST", "/v1/authenticate"), ("GET", ADDS)]  # one listing, no writes


def test_golden_id_is_the_reference_by_default_and_config_gives_the_note(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    [company_id] = seed(fake, 1, portfolio=None)
    report = make_connector(free_text="added by crmhub").write(
        "companies", [upsert(company_id, "G-42")]
    )
    assert statuses(report) == ["applied"]
    entry = fake.portfolios[PORTFOLIO][company_id]
    assert (entry.personal_reference, entry.free_text) == ("G-42", "added by crmhub")


def test_a_changed_reference_is_updated_in_place(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    [company_id] = seed(fake, 1)
    fake.portfolios[PORTFOLIO][company_id].personal_reference = "G-old"
    report = make_connector().write("companies", [upsert(company_id, "G-new")])
    assert statuses(report) == ["applied"]
    [patch] = fake.calls("PATCH", ADDS)
    assert patch.body == {"personalReference": "G-new"}
    assert fake.calls("POST", ADDS) == []
    assert fake.portfolios[PORTFOLIO][company_id].personal_reference == "G-new"


def test_a_refused_company_is_rejected_and_the_others_go_on(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 3, portfolio=None)
    fake.refuse_ids.add(ids[1])
    rows = [
        upsert(ids[0], "G-0"),
        upsert(ids[1], "G-1"),
        upsert(ids[2], "G-2"),
        upsert(None, "G-3"),
        upsert(ids[2], "G-4", crmhub_id="G-4"),
    ]
    report = make_connector().write("companies", rows)
    assert statuses(report) == ["applied", "rejected", "applied", "rejected", "rejected"]
    reasons = [r.reason for r in report.rows]
    assert reasons[1] == f"Creditsafe refused the company: 400 (Invalid company id {ids[1]})"
    assert "cannot be created" in reasons[3]
    assert reasons[4] == (
        "field(s) crmhub_id cannot be written to a Creditsafe portfolio; "
        "writable: free_text, personal_limit, personal_reference"
    )
    assert [r.idempotency_key for r in report.rows] == [r.idempotency_key for r in rows]
    assert report.count(RowStatus.APPLIED) == 2


def test_a_lost_answer_to_an_add_is_still_applied(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    [company_id] = seed(fake, 1, portfolio=None)
    fake.lose_add_answers = 1  # applied, but the answer is a 503: the retry gets a 409
    report = make_connector().write("companies", [upsert(company_id, "G-7")])
    assert statuses(report) == ["applied"]
    assert len(fake.calls("POST", ADDS)) == 2


def test_a_few_rows_into_a_big_portfolio_are_looked_up_one_by_one(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 12)
    before = len(fake.requests)
    report = make_connector(page_size=2).write("companies", [upsert(ids[-1], "G-1")])
    assert statuses(report) == ["applied"]
    sent = [(r.method, r.path) for r in fake.requests[before:]]
    assert sent == [
        ("POST", "/v1/authenticate"),
        ("GET", ADDS),  # the first page (gives the total)
        ("GET", f"{ADDS}/{ids[-1]}"),
        ("PATCH", f"{ADDS}/{ids[-1]}"),
    ]


def test_written_reference_is_read_back(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    [company_id] = seed(fake, 1)
    make_connector().write("companies", [upsert(company_id, "G-9", personal_limit=5000)])
    [record] = [r for b in make_connector().read("companies", None) for r in b.records]
    assert (record["personal_reference"], record["personal_limit"]) == ("G-9", "5000")


def test_write_into_another_portfolio(fake: CreditsafeFake, make_connector: MakeConnector) -> None:
    fake.add_portfolio("888", "Suppliers")
    [company_id] = seed(fake, 1, portfolio=None)
    connector = make_connector(write_portfolio_id="888")
    assert statuses(connector.write("companies", [upsert(company_id, "G-1")])) == ["applied"]
    assert company_id in fake.portfolios["888"]
    assert company_id not in fake.portfolios[PORTFOLIO]


def test_a_search_source_needs_a_write_portfolio(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    connector = make_connector(portfolio_id=None, search={"countries": "GB"})
    with pytest.raises(SourceContractError, match="write-back needs 'write_portfolio_id'"):
        connector.write("companies", [upsert("GB-0-1", "G-1")])
