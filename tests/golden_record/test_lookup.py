"""Customer lookup: typed values find golden records through matching's normalisers.

The golden-record DB is filled directly (golden rows, source records, xrefs) the way a build
leaves it, then `refresh_lookup_keys` computes the keys; every lookup runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import crmhub.golden_record as golden_record
from crmhub.canonical import CANONICAL_FIELDS
from crmhub.golden_record.customer_lookup import (
    KEY_TABLE,
    LookupQueryError,
    lookup,
    query_keys,
    refresh_lookup_keys,
)
from crmhub.golden_record.db import open_database

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# golden id -> (status, merged_into, golden values, [(source, source_id, values)])
CUSTOMERS: dict[str, tuple[str, str | None, dict[str, str], list[tuple[str, str, dict[str, str]]]]]
CUSTOMERS = {
    "GSMITH": (
        "active",
        None,
        {
            "first_name": "William",
            "last_name": "Smith",
            "email": "bill.smith@example.com",
            "phone": "+1 718 436 4217",
            "city": "Brooklyn",
        },
        [
            (
                "crm",
                "C-1",
                {
                    "first_name": "Bill",
                    "last_name": "Smith",
                    "email": "Bill.Smith@Example.com",
                    "phone": "+1 718 436 4217",
                },
            ),
            (
                "webshop",
                "W-9",
                {
                    "first_name": "William",
                    "last_name": "Smith",
                    "email": "WSmith+shop@Gmail.com",
                    "phone": "646.555.0199",  # an older number than the golden one
                },
            ),
        ],
    ),
    "GGARCIA": (
        "active",
        None,
        {"first_name": "Maria", "last_name": "Garcia", "phone": "212-736-5000"},
        [("crm", "C-2", {"first_name": "Maria", "last_name": "Garcia", "phone": "212 736 5000"})],
    ),
    "GOTHER": (  # shares Smith's landline, as family members do
        "active",
        None,
        {"first_name": "Jane", "last_name": "Smith", "phone": "(718) 436-4217"},
        [("crm", "C-3", {"first_name": "Jane", "last_name": "Smith", "phone": "7184364217"})],
    ),
    "GOLD": (  # merged into GGARCIA by an earlier build: never an answer
        "retired",
        "GGARCIA",
        {"first_name": "Retired", "last_name": "Person", "email": "retired@example.com"},
        [],
    ),
}


def insert_customers(conn: sa.Connection, customers: dict[str, Any], suffix: str = "") -> None:
    """Write golden rows, source records and xrefs the way a build leaves them."""
    for golden_id, (status, merged_into, values, _) in customers.items():
        conn.execute(
            sa.text(
                "INSERT INTO golden_customer (golden_id, provenance, version, status, "
                "merged_into, created_at, updated_at, " + ", ".join(values) + ") VALUES "
                "(:gid, :prov, 1, :status, :merged, :now, :now, "
                + ", ".join(f":{name}" for name in values)
                + ")"
            ),
            {
                "gid": golden_id + suffix,
                "prov": "{}",
                "status": status,
                "merged": merged_into + suffix if merged_into else None,
                "now": NOW,
                **values,
            },
        )
    for golden_id, (_, _, _, members) in customers.items():
        for source, source_id, values in members:
            record_id = conn.execute(
                sa.text(
                    "INSERT INTO source_record (source, stream, source_id, raw, content_hash, "
                    "first_seen_run, last_seen_run, changed_run, first_seen_at, last_seen_at, "
                    "deleted, golden_id, " + ", ".join(values) + ") VALUES (:source, 'customers', "
                    ":sid, '{}', 'h', 1, 1, 1, :now, :now, false, :gid, "
                    + ", ".join(f":{name}" for name in values)
                    + ") RETURNING id"
                ),
                {"source": source, "sid": source_id + suffix, "gid": golden_id + suffix}
                | {"now": NOW}
                | values,
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO customer_xref (source, stream, source_id, golden_id, record_id, "
                    "updated_at) VALUES (:source, 'customers', :sid, :gid, :rid, :now)"
                ),
                {
                    "source": source,
                    "sid": source_id + suffix,
                    "gid": golden_id + suffix,
                    "rid": record_id,
                    "now": NOW,
                },
            )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A migrated golden-record DB holding `CUSTOMERS`, keys refreshed; tests only read it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('lookup')}/crmhub.db"
    else:
        url = request.getfixturevalue("pg_url")
    engine = open_database(url)
    with engine.begin() as conn:
        insert_customers(conn, CUSTOMERS)
        refresh_lookup_keys(conn)
    yield engine
    engine.dispose()


def ids(found: list[golden_record.CustomerView]) -> list[str]:
    return [customer.golden_id for customer in found]


def test_package_exports_the_lookup_function() -> None:
    assert golden_record.lookup is lookup
    assert callable(golden_record.lookup)


def test_phone_written_differently_finds_the_customer_and_the_family(db: sa.Engine) -> None:
    found = lookup(db, phone="(718) 436-4217")
    assert ids(found) == ["GOTHER", "GSMITH"]
    assert all(customer.matched == ("phone",) for customer in found)


def test_an_older_phone_of_one_source_finds_the_customer(db: sa.Engine) -> None:
    assert ids(lookup(db, phone="+1 646-555-0199")) == ["GSMITH"]


def test_email_in_other_case_and_with_a_plus_tag(db: sa.Engine) -> None:
    assert ids(lookup(db, email="BILL.SMITH@example.COM")) == ["GSMITH"]
    assert ids(lookup(db, email="w.smith+newsletter@googlemail.com")) == ["GSMITH"]


def test_name_with_a_nickname_in_any_order(db: sa.Engine) -> None:
    for typed in (
        "Bill Smith",
        "billy  SMITH",
        "Smith, Will",
        "Smith Bill",
        "Dr. William J. Smith",
    ):
        assert ids(lookup(db, name=typed)) == ["GSMITH"], typed
    assert ids(lookup(db, name="Jane Smith")) == ["GOTHER"]


def test_the_360_view_has_golden_fields_and_every_source_record(db: sa.Engine) -> None:
    (customer,) = lookup(db, email="bill.smith@example.com")
    assert set(customer.fields) == set(CANONICAL_FIELDS)
    assert customer.fields["first_name"] == "William"
    assert customer.fields["city"] == "Brooklyn"
    assert customer.version == 1
    assert [(s.source, s.stream, s.source_id) for s in customer.sources] == [
        ("crm", "customers", "C-1"),
        ("webshop", "customers", "W-9"),
    ]
    assert customer.sources[1].fields["email"] == "WSmith+shop@Gmail.com"
    assert customer.sources[0].deleted is False


def test_more_matching_kinds_rank_first(db: sa.Engine) -> None:
    found = lookup(db, phone="718 436 4217", name="Jane Smith")
    assert ids(found) == ["GOTHER", "GSMITH"]
    assert found[0].matched == ("phone", "name")
    assert ids(lookup(db, phone="718 436 4217", limit=1)) == ["GOTHER"]


def test_retired_ids_are_never_returned(db: sa.Engine) -> None:
    assert lookup(db, email="retired@example.com") == []


def test_nothing_found_is_an_empty_list(db: sa.Engine) -> None:
    assert lookup(db, phone="+44 20 7946 0958") == []
    assert lookup(db, email="nobody@example.com") == []
    assert lookup(db, name="Nobody Known") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "give a phone number"),
        ({"phone": "555-1234"}, "not a valid phone number"),
        ({"email": "not an address"}, "not an e-mail address"),
        ({"name": "Smith"}, "needs a first and a last name"),
    ],
)
def test_a_query_that_can_never_match_is_an_error(query: dict[str, str], message: str) -> None:
    with pytest.raises(LookupQueryError, match=message):
        query_keys(**query)


def test_query_keys_use_the_default_region() -> None:
    assert query_keys(phone="020 7946 0958", default_region="gb") == [("phone", "+442079460958")]


def test_refresh_of_some_ids_follows_a_merge(db: sa.Engine) -> None:
    """A build merges one customer into another and refreshes the ids it touched."""
    suffix = "_" + uuid.uuid4().hex[:6]
    customers = {
        "GA": ("active", None, {"first_name": "Ann", "last_name": "Lee"}, []),
        "GB": (
            "active",
            None,
            {"first_name": "Ann", "last_name": "Leigh", "email": "ann@leigh.example"},
            [("crm", "B-1", {"first_name": "Ann", "last_name": "Leigh", "phone": "2127365001"})],
        ),
    }
    with db.begin() as conn:
        insert_customers(conn, customers, suffix)
        refresh_lookup_keys(conn, ["GA" + suffix, "GB" + suffix])
    assert ids(lookup(db, email="ann@leigh.example")) == ["GB" + suffix]

    with db.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE golden_customer SET status = 'retired', merged_into = :a "
                "WHERE golden_id = :b"
            ),
            {"a": "GA" + suffix, "b": "GB" + suffix},
        )
        conn.execute(
            sa.text("UPDATE customer_xref SET golden_id = :a WHERE golden_id = :b"),
            {"a": "GA" + suffix, "b": "GB" + suffix},
        )
        written = refresh_lookup_keys(conn, ["GA" + suffix, "GB" + suffix])
        left = conn.execute(
            sa.text(f"SELECT count(*) FROM {KEY_TABLE} WHERE golden_id = :b"), {"b": "GB" + suffix}
        ).scalar_one()
    assert written == 3  # GA's name, and the merged record's phone and name
    assert left == 0
    assert ids(lookup(db, phone="(212) 736-5001")) == ["GA" + suffix]
    assert lookup(db, email="ann@leigh.example") == []


def test_the_first_refresh_after_the_upgrade_fills_every_customer(tmp_path: Any) -> None:
    engine = open_database(f"sqlite:///{tmp_path}/crmhub.db")
    with engine.begin() as conn:
        insert_customers(conn, CUSTOMERS)
        refresh_lookup_keys(conn, ["GGARCIA"])
        kept = conn.execute(sa.text(f"SELECT DISTINCT golden_id FROM {KEY_TABLE}")).scalars()
        assert set(kept) == {"GSMITH", "GGARCIA", "GOTHER"}
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_probes_the_key_index(pg_url: str) -> None:
    engine = open_database(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            conn.exec_driver_sql(
                f"EXPLAIN SELECT golden_id FROM {KEY_TABLE} "
                "WHERE kind = 'phone' AND key = '+17184364217'"
            ).scalars()
        )
    engine.dispose()
    assert "pk_golden_lookup_key" in plan


def test_a_sync_refreshes_the_keys_of_what_changed_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a finished sync, the next build rewrites only the keys of customers whose records
    changed (here: one new phone in accounting), and the lookup follows the change."""
    import sqlite3

    from crmhub import pipeline
    from crmhub.demo import SILO_OF_SOURCE, create_demo
    from crmhub.golden_record import lookup as find

    config = str(create_demo(tmp_path, customers=120, seed=8))

    def sync() -> int:
        run = pipeline.start_run(config)
        for silo in SILO_OF_SOURCE.values():
            pipeline.extract_source(config, silo, run)
        figures = pipeline.match_and_build(config, run)
        summary = pipeline.RunSummary(run, golden=figures["golden"], pairs=figures["pairs"])
        pipeline.finish_run(config, summary)
        return run

    sync()
    engine = pipeline.golden_database(pipeline.load_hub(config).database_url)
    with sqlite3.connect(tmp_path / "silos" / "accounting.db") as silo:
        customer_id, _ = silo.execute(
            "SELECT customer_id, phone FROM customers WHERE phone IS NOT NULL LIMIT 1"
        ).fetchone()
        silo.execute(
            "UPDATE customers SET phone = '+1 212 555 0199', updated_at = '2030-01-01T00:00:00' "
            "WHERE customer_id = ?",
            (customer_id,),
        )
    before = _keys_by_customer(engine)
    from crmhub.golden_record import build

    asked: list[object] = []
    refresh = build.refresh_lookup_keys

    def recording(conn: sa.Connection, ids: object = None, **kwargs: Any) -> int:
        asked.append(ids)
        return refresh(conn, ids, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "refresh_lookup_keys", recording)
    sync()
    assert asked and asked[0] is not None and 1 <= len(asked[0]) <= 3  # type: ignore[arg-type]
    after = _keys_by_customer(engine)
    changed = {g for g in before.keys() | after.keys() if before.get(g) != after.get(g)}
    assert len(changed) == 1  # only the customer whose record changed got new keys
    (customer,) = find(engine, phone="(212) 555-0199")
    assert customer.golden_id in changed


def _keys_by_customer(engine: sa.Engine) -> dict[str, set[tuple[str, str]]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT golden_id, kind, key FROM golden_lookup_key").all()
    out: dict[str, set[tuple[str, str]]] = {}
    for golden_id, kind, key in rows:
        out.setdefault(golden_id, set()).add((kind, key))
    return out
