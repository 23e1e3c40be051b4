"""Stewardship on the demo hub: the review queue, decisions every later run honours (also
after re-ingesting the same records), and splitting a record out of its customer."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmhub import pipeline
from crmhub.cli import app
from crmhub.demo import SILO_OF_SOURCE, create_demo
from crmhub.golden_record import steward
from crmhub.golden_record.models import CustomerXref, GoldenCustomer, SourceRecord

runner = CliRunner()


def sync(config: Path, *, extract: bool = True) -> None:
    run = pipeline.start_run(str(config))
    if extract:
        for silo in SILO_OF_SOURCE.values():
            pipeline.extract_source(str(config), silo, run)
    pipeline.match_and_build(str(config), run)


def golden_of(engine: sa.Engine, ref: str) -> str:
    source, source_id = ref.split(":")
    with engine.connect() as conn:
        return str(
            conn.scalar(
                sa.select(CustomerXref.golden_id)
                .join(SourceRecord, SourceRecord.id == CustomerXref.record_id)
                .where(SourceRecord.source == source, SourceRecord.source_id == source_id)
            )
        )


@pytest.fixture()
def hub(tmp_path: Path) -> tuple[Path, sa.Engine]:
    config = create_demo(tmp_path, customers=200, seed=21)
    text = config.read_text(encoding="utf-8")  # a strict auto-merge: a queue to work through
    strict = "thresholds: {auto_merge: 0.999999, review: 0.5, cannot_link: 0.01}"
    config.write_text(text.replace("thresholds: {auto_merge: 0.95, review: 0.80}", strict))
    sync(config)
    return config, pipeline.golden_database(pipeline.load_hub(str(config)).database_url)


def test_a_match_decision_merges_a_review_pair_for_good(hub: tuple[Path, sa.Engine]) -> None:
    config, engine = hub
    pending = steward.pending_reviews(engine, limit=500)
    assert not pending.empty
    apart = [
        (a, b)
        for a, b in zip(pending["left"], pending["right"], strict=True)
        if golden_of(engine, a) != golden_of(engine, b)
    ]
    left, right = apart[0]
    result = runner.invoke(app, ["review", str(config), "--match", left, right, "--by", "ann"])
    assert result.exit_code == 0, result.output
    sync(config)
    assert golden_of(engine, left) == golden_of(engine, right)
    assert (left, right) not in set(
        zip(*[steward.pending_reviews(engine)[c] for c in ("left", "right")], strict=True)
    )
    sync(config)  # re-ingesting the same records keeps the decision
    assert golden_of(engine, left) == golden_of(engine, right)


def test_split_takes_a_record_out_and_rebuilds_both(hub: tuple[Path, sa.Engine]) -> None:
    config, engine = hub
    with engine.connect() as conn:
        golden, _ = conn.execute(
            sa.select(CustomerXref.golden_id, sa.func.count())
            .group_by(CustomerXref.golden_id)
            .having(sa.func.count() >= 3)
            .limit(1)
        ).one()
        members = conn.execute(
            sa.select(SourceRecord.id, SourceRecord.source, SourceRecord.source_id)
            .join(CustomerXref, CustomerXref.record_id == SourceRecord.id)
            .where(CustomerXref.golden_id == golden)
            .order_by(SourceRecord.id.desc())
        ).all()
    record_id, source, source_id = members[0]
    ref = f"{source}:{source_id}"
    result = runner.invoke(app, ["review", str(config), "--split", ref])
    assert result.exit_code == 0, result.output
    sync(config, extract=False)
    others = {golden_of(engine, f"{m[1]}:{m[2]}") for m in members[1:]}
    assert golden_of(engine, ref) not in others  # out of its old customer
    assert golden in others  # the id stayed with (the larger part of) the rest
    with engine.connect() as conn:
        provenances = conn.scalars(
            sa.select(GoldenCustomer.provenance).where(GoldenCustomer.golden_id.in_(others))
        ).all()
    used = {item["record_id"] for provenance in provenances for item in provenance.values()}
    assert record_id not in used  # their values were re-derived without the record


def test_review_lists_pairs_and_names_bad_input(hub: tuple[Path, sa.Engine]) -> None:
    config, engine = hub
    listed = runner.invoke(app, ["review", str(config), "--limit", "3"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    first = steward.pending_reviews(engine, limit=1).iloc[0]
    assert first["left"] in listed.output and first["right"] in listed.output
    assert "agrees on" in listed.output and "--match" in listed.output
    unknown = runner.invoke(app, ["review", str(config), "--match", "sales:nope", "crm:1"])
    assert unknown.exit_code == 1 and "not in the golden-record DB" in unknown.output
