"""Reading: portfolio paging, incremental reads by notification events, searches, bad reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.connectors.creditsafe.creditsafe_support import (
    PORTFOLIO,
    T0,
    MakeConnector,
    company,
    ids_of,
    seed,
)
from tests.fakes.creditsafe import CreditsafeFake

from crmhub.connectors.base import Batch
from crmhub.errors import SourceContractError


def read(connector: object, state: dict | None = None) -> list[Batch]:
    return list(connector.read("companies", state))  # type: ignore[attr-defined]


def test_full_read_pages_the_portfolio_and_fetches_each_report(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 5)
    batches = read(make_connector(page_size=2))
    assert [len(b.records) for b in batches] == [2, 2, 1]
    assert ids_of(batches) == ids
    listing = fake.calls("GET", f"/v1/monitoring/portfolios/{PORTFOLIO}/companies")
    assert [(r.param("page"), r.param("pageSize")) for r in listing] == [
        ("1", "2"),
        ("2", "2"),
        ("3", "2"),
    ]
    assert len(fake.calls("GET", "/v1/companies/")) == 5
    assert batches[0].positions == [f"company {ids[0]}", f"company {ids[1]}"]


def test_records_are_flat_assessments_with_the_portfolio_entry(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    fake.add_company(
        company(1, vat_no="GB999", score="78", credit_limit="1250.50"),
        PORTFOLIO,
        personal_reference="G-1",
        free_text="key account",
    )
    [batch] = read(make_connector())
    [record] = batch.records
    assert record["bureau"] == "creditsafe"
    assert record["company_id"] == "GB-0-00000001"
    assert (record["credit_limit"], record["currency"]) == ("1250.5", "GBP")
    assert (record["score"], record["risk_band"], record["status"]) == (78, "A", "active")
    assert record["assessed_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert (record["tax_id"], record["personal_reference"], record["free_text"]) == (
        "GB999",
        "G-1",
        "key account",
    )
    assert all(v is None or isinstance(v, str | int) for v in record.values())


def test_incremental_read_follows_events_and_handles_the_boundary(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 5)
    fake.add_event(ids[0], PORTFOLIO, T0 + timedelta(minutes=10))  # history before the first read
    first = read(make_connector())
    state = first[-1].state_after
    assert state["since"] == (T0 + timedelta(minutes=10)).isoformat()

    fake.change_company(ids[1], T0 + timedelta(minutes=10), credit_limit="1")  # AT the boundary
    fake.change_company(ids[2], T0 + timedelta(minutes=20), rating="C")  # after it
    fake.add_event(ids[3], PORTFOLIO, T0 + timedelta(minutes=5))  # before it: already covered
    second = read(make_connector(), state)
    assert sorted(ids_of(second)) == [ids[1], ids[2]]
    changed = {r["company_id"]: r for b in second for r in b.records}
    assert changed[ids[1]]["credit_limit"] == "1"
    assert changed[ids[2]]["risk_band"] == "C"

    third = read(make_connector(), second[-1].state_after)
    assert ids_of(third) == []
    assert third[-1].state_after == second[-1].state_after
    assert len(fake.calls("GET", "/v1/companies/")) == 5 + 2


def test_a_company_with_many_events_is_fetched_once_per_read(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 2)
    state = read(make_connector())[-1].state_after
    for minute in (1, 2, 3):
        fake.change_company(ids[0], T0 + timedelta(minutes=minute))
    assert ids_of(read(make_connector(), state)) == [ids[0]]


def test_resume_after_a_crash_in_the_event_phase(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 4)
    state = read(make_connector(page_size=1))[-1].state_after
    for number, company_id in enumerate(ids):
        fake.change_company(company_id, T0 + timedelta(hours=1, minutes=number // 2))
    batches = read(make_connector(page_size=1), state)
    assert ids_of(batches) == ids
    resumed = read(make_connector(page_size=1), batches[0].state_after)
    assert ids_of(resumed) == ids[1:]


def test_companies_added_to_the_portfolio_are_read_and_removed_ones_forgotten(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 3)
    state = read(make_connector())[-1].state_after
    fake.add_company(company(9), PORTFOLIO)  # no event is sent for an added company
    del fake.portfolios[PORTFOLIO][ids[0]]
    batches = read(make_connector(), state)
    assert ids_of(batches) == ["GB-0-00000009"]
    assert batches[-1].state_after["known"] == sorted([*ids[1:], "GB-0-00000009"])


def test_bad_reports_are_rejected_and_the_rest_read(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 3)
    fake.add_company(company(8, broken=True), PORTFOLIO)
    fake.add_company(company(9), PORTFOLIO)
    del fake.companies["GB-0-00000009"]  # in the portfolio, but Creditsafe has no report
    batches = read(make_connector())
    assert ids_of(batches) == ids
    rejected = {r.position: r for b in batches for r in b.rejected}
    assert set(rejected) == {"company GB-0-00000008", "company GB-0-00000009"}
    reason = rejected["company GB-0-00000008"].reason
    assert "company_id: no value" in reason
    assert "credit_limit: 'n/a' is not an amount" in reason  # every problem, not only the first
    assert '"businessName"' in rejected["company GB-0-00000008"].raw
    assert rejected["company GB-0-00000009"].reason == "Creditsafe has no report (404)"


def test_a_new_report_field_does_not_break_the_read(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    seed(fake, 2)
    before = [r for b in read(make_connector()) for r in b.records]
    fake.drift(esgRating={"value": "B", "provider": "x"}, sanctionsHit=False)
    after = [r for b in read(make_connector()) for r in b.records]
    assert after == before


def test_search_reads_every_match_page_by_page(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 5, portfolio=None)
    fake.add_company(company(9, country="DE"))
    connector = make_connector(portfolio_id=None, search={"countries": ["GB"]}, page_size=2)
    batches = read(connector)
    assert ids_of(batches) == ids
    searches = fake.calls("GET", "/v1/companies")
    pages = [(r.param("page"), r.param("pageSize")) for r in searches if r.path == "/v1/companies"]
    assert pages == [("1", "2"), ("2", "2"), ("3", "2")]
    assert [b.state_after for b in batches][-1] == {}
    assert "personal_reference" not in batches[0].records[0]


def test_search_filters_are_sent(fake: CreditsafeFake, make_connector: MakeConnector) -> None:
    seed(fake, 12, portfolio=None)
    search = {"countries": "GB", "reg_no": "0000001"}  # 00000010, 00000011, 00000012
    batches = read(make_connector(portfolio_id=None, search=search))
    assert ids_of(batches) == ["GB-0-00000010", "GB-0-00000011", "GB-0-00000012"]
    [request] = [r for r in fake.requests if r.path == "/v1/companies"]
    assert (request.param("countries"), request.param("regNo")) == ("GB", "0000001")


def test_a_crashed_search_read_resumes_without_buying_reports_twice(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 5, portfolio=None)
    connector = make_connector(portfolio_id=None, search={"countries": ["GB"]}, page_size=2)
    first = read(connector)
    bought = len(fake.calls("GET", "/v1/companies/"))
    resumed = read(connector, first[0].state_after)
    assert ids_of(resumed) == ids[2:]
    assert len(fake.calls("GET", "/v1/companies/")) - bought == 3


def test_max_reports_stops_a_read_before_buying_any(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    seed(fake, 5, portfolio=None)
    connector = make_connector(portfolio_id=None, search={"countries": ["GB"]}, max_reports=4)
    with pytest.raises(SourceContractError, match="needs 5 company reports, more than max_"):
        read(connector)
    assert fake.calls("GET", "/v1/companies/") == []


def test_unknown_stream_and_bad_state_are_contract_errors(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    connector = make_connector()
    with pytest.raises(SourceContractError, match="unknown stream 'customers'"):
        list(connector.read("customers", None))
    with pytest.raises(SourceContractError, match="not a creditsafe portfolio state"):
        read(connector, {"since": "yesterday"})


def test_check_names_the_portfolio_or_the_search(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    seed(fake, 3, portfolio=None)
    assert make_connector().check().message == f"portfolio {PORTFOLIO} (Key accounts)"
    search = make_connector(portfolio_id=None, search={"countries": "GB"})
    assert search.check().message == "search matches 3 companies"
    missing = make_connector(portfolio_id="404404").check()
    assert not missing.ok
    assert missing.message == "credit: monitoring portfolio 404404 not found"


def test_an_event_seen_late_with_an_older_date_is_read_next_time(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 3)
    fake.add_event(ids[0], PORTFOLIO, T0)
    state = read(make_connector())[-1].state_after
    now = datetime.now(UTC).replace(microsecond=0)
    fake.change_company(ids[1], now - timedelta(minutes=1), rating="B")
    second = read(make_connector(), state)
    assert ids_of(second) == [ids[1]]
    state = second[-1].state_after
    assert datetime.fromisoformat(state["since"]) <= now - timedelta(minutes=4)

    fake.change_company(ids[2], now - timedelta(minutes=2), rating="C")  # visible late, older
    third = read(make_connector(), state)
    assert ids_of(third) == [ids[2]]  # and the event already read is not delivered again
    assert ids_of(read(make_connector(), third[-1].state_after)) == []


def test_without_a_settle_margin_the_watermark_is_the_newest_event(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 2)
    fake.add_event(ids[0], PORTFOLIO, T0)
    state = read(make_connector())[-1].state_after
    now = datetime.now(UTC).replace(microsecond=0)
    fake.change_company(ids[1], now - timedelta(minutes=1))
    state = read(make_connector(settle_seconds=0), state)[-1].state_after
    assert state["since"] == (now - timedelta(minutes=1)).isoformat()
