"""End to end: demo silos -> sync flow -> golden records -> write-back, run twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from crmhub.config.loader import load_hub
from crmhub.demo import create_demo
from crmhub.flows.sync import sync_flow

pytestmark = pytest.mark.usefixtures("prefect_harness")


def read_table(db: Path, query: str) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        return pd.read_sql(sa.text(query), conn)


@pytest.fixture(scope="module")
def synced_twice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("demo")
    config = create_demo(root, customers=300, seed=3)
    first = sync_flow(str(config))
    db = root / "crmhub.db"
    ids_after_first = read_table(db, "SELECT source, source_id, golden_id FROM customer_xref")
    events_after_first = read_table(db, "SELECT count(*) AS n FROM golden_event")["n"][0]
    second = sync_flow(str(config))
    return {
        "root": root,
        "db": db,
        "first": first,
        "second": second,
        "ids_first": ids_after_first,
        "events_first": events_after_first,
    }


def test_first_sync_reads_every_source_and_builds_golden_records(synced_twice: dict) -> None:
    first = synced_twice["first"]
    assert first.failed_sources == []
    read = {s.name: s.read for s in first.sources}
    assert set(read) == {"accounting", "sales", "credit", "marketing"}
    assert all(n > 0 for n in read.values())
    records = sum(s.inserted for s in first.sources)
    assert 0 < first.golden["active"] < records  # people in several silos were merged


def test_second_sync_keeps_golden_ids_and_adds_no_events(synced_twice: dict) -> None:
    db = synced_twice["db"]
    ids_now = read_table(db, "SELECT source, source_id, golden_id FROM customer_xref")
    merged = synced_twice["ids_first"].merge(ids_now, on=["source", "source_id"])
    assert len(merged) == len(ids_now) == len(synced_twice["ids_first"])
    assert (merged["golden_id_x"] == merged["golden_id_y"]).all()
    events = read_table(db, "SELECT count(*) AS n FROM golden_event")["n"][0]
    assert events == synced_twice["events_first"]
    second = synced_twice["second"]
    assert sum(s.inserted + s.updated for s in second.sources) == 0
    assert sum(s.written for s in second.sources) == 0  # nothing left to write back


def test_golden_ids_were_written_back_into_every_silo(synced_twice: dict) -> None:
    root, db = synced_twice["root"], synced_twice["db"]
    xref = read_table(db, "SELECT source, source_id, golden_id FROM customer_xref")
    with sqlite3.connect(root / "silos" / "accounting.db") as conn:
        accounting = pd.read_sql("SELECT customer_id, crmhub_id FROM customers", conn)
    expected = xref[xref.source == "accounting"].set_index("source_id")["golden_id"]
    assert accounting.set_index("customer_id")["crmhub_id"].to_dict() == expected.to_dict()
    sales = pd.read_csv(root / "silos" / "sales_contacts.csv", dtype=str)
    assert "crmhub_id" in sales.columns and sales.columns[0] == "Contact ID"
    assert sales["crmhub_id"].notna().sum() == (xref.source == "sales").sum()
    credit = pd.read_excel(
        root / "silos" / "credit.xlsx", sheet_name="Customers", dtype=str, engine="openpyxl"
    )
    assert credit["crmhub_id"].notna().all()
    marketing = pd.read_excel(root / "silos" / "marketing.ods", engine="odf", dtype=str)
    assert marketing["crmhub_id"].notna().all()


def test_row_without_key_is_quarantined_and_the_rest_goes_on(synced_twice: dict) -> None:
    quarantine = read_table(synced_twice["db"], "SELECT source, position, reason FROM quarantine")
    sales = quarantine[quarantine.source == "sales"]
    assert len(sales) == 1
    assert "key" in sales["reason"].iloc[0].lower()


def test_run_summaries_are_stored(synced_twice: dict) -> None:
    runs = read_table(synced_twice["db"], "SELECT run_id, status FROM run ORDER BY run_id")
    assert list(runs["status"]) == ["succeeded", "succeeded"]


def test_a_broken_source_fails_alone(tmp_path: Path) -> None:
    config = create_demo(tmp_path, customers=50, seed=5)
    (tmp_path / "silos" / "marketing.ods").unlink()
    summary = sync_flow(str(config))
    status = {s.name: s.status for s in summary.sources}
    assert status["marketing"] == "failed"
    assert "marketing" in next(s.error for s in summary.sources if s.name == "marketing")
    assert {status[n] for n in ("accounting", "sales", "credit")} == {"ok"}
    assert load_hub(config).sources["marketing"].settings.trust == 1


def test_run_publishes_summary_artifacts(synced_twice: dict) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        wanted = ArtifactFilter(key=ArtifactFilterKey(any_=["sync-summary", "sync-sources"]))
        artifacts = client.read_artifacts(artifact_filter=wanted)
    kinds = {a.key: a.type for a in artifacts}
    assert kinds == {"sync-summary": "markdown", "sync-sources": "table"}
    report = next(a for a in artifacts if a.key == "sync-summary")
    assert "accounting" in str(report.data) and "Golden records" in str(report.data)


def test_explain_a_merged_pair_as_text_and_waterfall(synced_twice: dict, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from typer.testing import CliRunner

    from crmhub.cli import app
    from crmhub.errors import CrmhubError
    from crmhub.matching.explain import explain_pair, waterfall_svg

    db = synced_twice["db"]
    pair = read_table(
        db,
        "SELECT l.source || ':' || l.source_id AS a, r.source || ':' || r.source_id AS b, "
        "m.weight FROM match_evidence m JOIN source_record l ON l.id = m.left_id "
        "JOIN source_record r ON r.id = m.right_id WHERE m.decision = 'match' LIMIT 1",
    ).iloc[0]
    engine = sa.create_engine(f"sqlite:///{db}")
    found = explain_pair(engine, pair["b"], pair["a"])  # either order
    assert found.decision == "match"
    assert found.total == pytest.approx(pair["weight"])
    assert sum(step.weight for step in found.steps) == pytest.approx(found.total)
    assert found.steps[0].label == "prior"
    assert {s.label for s in found.steps[1:]} >= {"first_name", "last_name"}
    svg = ET.fromstring(waterfall_svg(found))
    assert svg.tag.endswith("svg") and len(svg.findall("{*}rect")) >= 2
    with pytest.raises(CrmhubError, match="not in the golden-record DB"):
        explain_pair(engine, "sales:no-such-id", pair["a"])
    with pytest.raises(CrmhubError, match="source:source_id"):
        explain_pair(engine, "sales", pair["a"])

    out = tmp_path / "why.svg"
    config = synced_twice["root"] / "hub.yaml"
    result = CliRunner().invoke(
        app,
        ["explain", str(config), pair["a"], pair["b"], "--svg", str(out)],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "match probability" in result.output
    assert out.read_text().startswith("<svg")
