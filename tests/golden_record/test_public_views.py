"""The public views apps read (customer_360, golden_history, golden_id_map) and the reader login.

Values are checked against the tables they summarise, on a demo sync and on hand-made rows
(odd balances, deleted records, a two-hop merge chain), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import PG_ADMIN_URL, _connect_or_fail

from crmhub import pipeline
from crmhub.demo import SILO_OF_SOURCE, create_demo
from crmhub.golden_record.models import CustomerXref, GoldenCustomer, GoldenEvent, SourceRecord
from crmhub.golden_record.readers import (
    PUBLIC_VIEWS,
    ReaderError,
    grant_reader,
    merge_chain,
    resolve_golden_id,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _rows(engine: sa.Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """The demo silos synced once (without Prefect) into SQLite or a PostgreSQL schema of its own.

    Not the module's `pg_url` schema: the hand-made rows below must not mix with the demo's.
    """
    config = create_demo(tmp_path_factory.mktemp("views-demo"), customers=80, seed=5)
    schema = None
    if request.param == "postgresql":
        admin = _connect_or_fail(PG_ADMIN_URL, "PostgreSQL")
        schema = f"t_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_ADMIN_URL else "?"
        url = f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{schema}"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("url: sqlite:///crmhub.db", f"url: {url}"), "utf-8")
    run = pipeline.start_run(str(config))
    for silo in SILO_OF_SOURCE.values():
        pipeline.extract_source(str(config), silo, run)
    pipeline.match_and_build(str(config), run)
    engine = pipeline.golden_database(pipeline.load_hub(str(config)).database_url)
    yield engine
    engine.dispose()
    if schema is not None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_customer_360_sums_the_clusters_accounting_balances(demo_engine: sa.Engine) -> None:
    view = {r["golden_id"]: r for r in _rows(demo_engine, "SELECT * FROM customer_360")}
    active = _rows(demo_engine, "SELECT golden_id FROM golden_customers")
    assert set(view) == {r["golden_id"] for r in active}
    members = _rows(
        demo_engine,
        "SELECT s.golden_id, s.source, r.balance, r.credit_limit, r.risk_band, "
        "r.last_purchase_at FROM customer_sources s JOIN source_record r ON r.id = s.record_id",
    )
    by_golden: dict[str, list[dict[str, Any]]] = {}
    for member in members:
        by_golden.setdefault(member["golden_id"], []).append(member)
    several_accounts = 0
    for golden_id, rows in by_golden.items():
        row = view[golden_id]
        balances = [Decimal(m["balance"]) for m in rows if m["source"] == "accounting"]
        assert all(m["balance"] is None for m in rows if m["source"] != "accounting")
        several_accounts += len(balances) > 1
        if balances:
            assert Decimal(str(row["total_balance"])) == pytest.approx(sum(balances))
        else:
            assert row["total_balance"] is None
        assert row["balance_records"] == len(balances)
        assert row["source_records"] == len(rows)
        assert row["sources"] == ",".join(sorted({m["source"] for m in rows}))
        assert row["source_count"] == len({m["source"] for m in rows})
        purchases = [m["last_purchase_at"] for m in rows if m["last_purchase_at"]]
        assert row["last_purchase_at"] == (max(purchases) if purchases else None)
        credit = [m for m in rows if m["credit_limit"] is not None]
        if len(credit) == 1:
            assert (row["credit_limit"], row["risk_band"], row["credit_source"]) == (
                credit[0]["credit_limit"],
                credit[0]["risk_band"],
                "credit",
            )
    assert several_accounts > 0  # the demo has customers with two accounting accounts


def test_golden_history_lists_every_event_with_its_run(demo_engine: sa.Engine) -> None:
    history = _rows(demo_engine, "SELECT * FROM golden_history ORDER BY event_id")
    events = _rows(demo_engine, "SELECT id, golden_id, event_type, run_id FROM golden_event")
    assert [h["event_id"] for h in history] == sorted(e["id"] for e in events)
    run = _rows(demo_engine, "SELECT run_id, started_at FROM run")[0]
    assert {h["run_id"] for h in history} == {run["run_id"]}
    assert {h["event_type"] for h in history} >= {"created"}
    assert all(h["run_started_at"] is not None for h in history)


@pytest.fixture
def chain(engine: sa.Engine, run_id: int) -> dict[str, Any]:
    """A customer with odd facts, a two-hop merge chain A -> B -> C and an updated event."""
    tag = uuid.uuid4().hex[:6].upper()
    a, b, c = (f"G{tag}{n}" for n in ("A", "B", "C"))
    source = f"s_{tag.lower()}"
    golden = [
        {"golden_id": c, "status": "active", "merged_into": None},
        {"golden_id": b, "status": "retired", "merged_into": c},
        {"golden_id": a, "status": "retired", "merged_into": b},
    ]
    records = [
        ("acc1", "100.50", None, None, "2025-01-01T10:00:00", False),
        ("acc2", " -20 ", None, None, "2025-03-01", False),
        ("acc3", "n/a", None, None, "soon", False),
        ("acc4", "1000", None, None, "2026-01-01", True),  # deleted: never counted
        ("cr1", None, "500", "B", "2024-06-01", False),
        ("cr2", None, "2500", "A", "2025-02-01", False),
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(GoldenCustomer.__table__),
            [
                {
                    **g,
                    "first_name": "Ann",
                    "provenance": {},
                    "version": 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for g in golden
            ],
        )
        for sid, balance, limit, band, updated, deleted in records:
            record_id = conn.execute(
                sa.insert(SourceRecord.__table__).returning(SourceRecord.__table__.c.id),
                {
                    "source": source if sid.startswith("acc") else source + "_credit",
                    "stream": "customers",
                    "source_id": sid,
                    "raw": "{}",
                    "content_hash": "0" * 32,
                    "balance": balance,
                    "credit_limit": limit,
                    "risk_band": band,
                    "source_updated_at": updated,
                    "first_seen_run": run_id,
                    "last_seen_run": run_id,
                    "changed_run": run_id,
                    "first_seen_at": NOW,
                    "last_seen_at": NOW,
                    "deleted": deleted,
                    "golden_id": c,
                },
            ).scalar_one()
            conn.execute(
                sa.insert(CustomerXref.__table__),
                {
                    "source": source if sid.startswith("acc") else source + "_credit",
                    "stream": "customers",
                    "source_id": sid,
                    "golden_id": c,
                    "record_id": record_id,
                    "updated_at": NOW,
                },
            )
        conn.execute(
            sa.insert(GoldenEvent.__table__),
            [
                {
                    "run_id": run_id,
                    "golden_id": c,
                    "event_type": "updated",
                    "other_golden_id": None,
                    "details": {"fields": ["email", "phone"]},
                    "at": NOW,
                },
                {
                    "run_id": run_id,
                    "golden_id": c,
                    "event_type": "merged",
                    "other_golden_id": b,
                    "details": {"retired": b},
                    "at": NOW,
                },
            ],
        )
    return {"a": a, "b": b, "c": c, "source": source}


def test_golden_id_map_follows_a_two_hop_merge_chain(
    engine: sa.Engine, chain: dict[str, Any]
) -> None:
    a, b, c = chain["a"], chain["b"], chain["c"]
    rows = _rows(
        engine,
        "SELECT golden_id, status, merged_into, active_golden_id, hops FROM golden_id_map "
        "WHERE golden_id IN (:a, :b, :c) ORDER BY golden_id",
        a=a,
        b=b,
        c=c,
    )
    assert rows == [
        {"golden_id": a, "status": "retired", "merged_into": b, "active_golden_id": c, "hops": 2},
        {"golden_id": b, "status": "retired", "merged_into": c, "active_golden_id": c, "hops": 1},
        {"golden_id": c, "status": "active", "merged_into": None, "active_golden_id": c, "hops": 0},
    ]
    assert resolve_golden_id(engine, a) == c
    assert resolve_golden_id(engine, c) == c
    assert resolve_golden_id(engine, "G000000000000") is None
    assert merge_chain(engine, a) == [a, b, c]
    assert merge_chain(engine, "G000000000000") == []


def test_customer_360_counts_only_plain_numbers_and_live_records(
    engine: sa.Engine, chain: dict[str, Any]
) -> None:
    (row,) = _rows(engine, "SELECT * FROM customer_360 WHERE golden_id = :g", g=chain["c"])
    assert Decimal(str(row["total_balance"])) == pytest.approx(Decimal("80.50"))
    assert row["balance_records"] == 2  # "n/a" and the deleted record are left out
    assert (row["credit_limit"], row["risk_band"]) == ("2500", "A")  # the most recent report
    assert row["credit_source"] == chain["source"] + "_credit"
    assert row["last_source_update_at"] == "2025-03-01"  # "soon" is no ISO date
    assert row["source_records"] == 5
    assert row["source_count"] == 2
    assert row["sources"] == f"{chain['source']},{chain['source']}_credit"
    assert row["first_name"] == "Ann"
    retired = _rows(engine, "SELECT * FROM customer_360 WHERE golden_id = :g", g=chain["a"])
    assert retired == []


def test_golden_history_says_what_changed(engine: sa.Engine, chain: dict[str, Any]) -> None:
    rows = _rows(
        engine,
        "SELECT event_type, changed_fields, merged_golden_id, run_status FROM golden_history "
        "WHERE golden_id = :g ORDER BY event_id",
        g=chain["c"],
    )
    assert rows == [
        {
            "event_type": "updated",
            "changed_fields": "email,phone",
            "merged_golden_id": None,
            "run_status": "running",
        },
        {
            "event_type": "merged",
            "changed_fields": None,
            "merged_golden_id": chain["b"],
            "run_status": "running",
        },
    ]


def test_sqlite_has_no_reader_logins(tmp_path: Path) -> None:
    from crmhub.golden_record.db import open_database

    engine = open_database(f"sqlite:///{tmp_path}/crmhub.db")
    with pytest.raises(ReaderError, match="SQLite has no logins"):
        grant_reader(engine, "billing", "secret")
    engine.dispose()


@pytest.mark.parametrize("name", ["Billing", "1st", "a-b", "x; DROP TABLE run", "pg_reader", ""])
def test_reader_names_are_validated(name: str) -> None:
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    with pytest.raises(ReaderError, match="role name"):
        grant_reader(engine, name, "secret")


def _scram_matches(verifier: str, password: str) -> bool:
    """Check a stored SCRAM-SHA-256 verifier against a password (RFC 7677), as the server does.

    The test server trusts local connections, so logging in proves nothing about the password.
    """
    mechanism, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return mechanism == "SCRAM-SHA-256" and base64.b64encode(
        hashlib.sha256(client_key).digest()
    ).decode() == (stored_key)


@pytest.mark.postgres
def test_reader_login_selects_views_and_nothing_else(pg_url: str) -> None:
    from crmhub.golden_record.db import open_database

    engine = open_database(pg_url)
    name = f"reader_{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        grant = grant_reader(engine, name, password)
        assert grant.created and set(grant.views) == set(PUBLIC_VIEWS)
        again = grant_reader(engine, name, password + "2")  # an update: new password
        assert not again.created
        with admin.connect() as conn:
            verifier = conn.execute(
                sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = :n"), {"n": name}
            ).scalar_one()
        assert _scram_matches(verifier, password + "2")
        assert password not in verifier

        url = sa.make_url(PG_ADMIN_URL).set(username=name, password=password + "2")
        reader = sa.create_engine(url)  # no search_path option: the role's default finds them
        try:
            with reader.connect() as conn:
                assert conn.execute(sa.text("SELECT current_user")).scalar() == name
                for view in PUBLIC_VIEWS:
                    conn.execute(sa.text(f"SELECT * FROM {view} LIMIT 1")).all()
            denied = [
                "SELECT * FROM golden_customer",
                "SELECT count(*) FROM source_record",
                "INSERT INTO golden_customers (golden_id) VALUES ('GX')",
                "INSERT INTO run (started_at, status) VALUES (now(), 'x')",
                "DELETE FROM golden_customers",
                "CREATE TABLE mine (x int)",
            ]
            for statement in denied:
                with reader.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as caught:
                    conn.execute(sa.text(statement))
                assert "permission denied" in str(caught.value), statement
        finally:
            reader.dispose()
    finally:
        with admin.begin() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}
            ).scalar()
            if exists:
                conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
                conn.execute(sa.text(f'DROP ROLE "{name}"'))
        admin.dispose()
        engine.dispose()


@pytest.mark.postgres
def test_an_admin_role_is_never_turned_into_a_reader(pg_url: str) -> None:
    from crmhub.golden_record.db import open_database

    engine = open_database(pg_url)
    try:
        with pytest.raises(ReaderError, match="the user the hub connects as"):
            grant_reader(engine, "postgres", "secret")
    finally:
        engine.dispose()
