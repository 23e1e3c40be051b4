"""Write-back on SQLite, PostgreSQL and MariaDB: update by key, unchanged rows untouched."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sql_support import Database, seed_rows

from crmhub.connectors.base import Upsert
from crmhub.errors import SourceContractError


def upsert(external_id: str | None, **fields: object) -> Upsert:
    return Upsert(external_id, "G-1", fields, f"idem-{external_id}-{sorted(fields)}")


def statuses(report: object) -> list[str]:
    return [row.status.value for row in report.rows]  # type: ignore[attr-defined]


def test_write_applies_then_identical_write_is_unchanged(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    connector = db.connector(table=table, write_columns=["email", "first_name"])
    rows = [
        upsert("1", email="new1@example.com"),
        upsert("2", email="user2@example.com"),  # already that value
        upsert("3", email="new3@example.com", first_name="Ada"),
    ]
    first = connector.write(table, rows)
    assert statuses(first) == ["applied", "unchanged", "applied"]
    assert [r.idempotency_key for r in first.rows] == [r.idempotency_key for r in rows]
    stored = {r["id"]: r for r in db.rows(table)}
    assert stored[1]["email"] == "new1@example.com"
    assert (stored[3]["email"], stored[3]["first_name"]) == ("new3@example.com", "Ada")
    assert stored[4]["email"] == "user4@example.com"
    second = connector.write(table, rows)
    assert statuses(second) == ["unchanged"] * 3


def test_unknown_key_and_foreign_column_are_rejected_with_reasons(db: Database) -> None:
    table = db.create_customers(rows=seed_rows(3))
    connector = db.connector(table=table, write_columns=["email"])
    report = connector.write(
        table,
        [
            upsert("999", email="x@example.com"),
            upsert(None, email="y@example.com"),
            upsert("1", balance="0"),
            upsert("1", id="7"),
            upsert("abc", email="z@example.com"),
            upsert("2", email="ok@example.com"),
        ],
    )
    assert statuses(report) == ["rejected"] * 5 + ["applied"]
    reasons = [row.reason for row in report.rows]
    assert "no row with key id='999'" in reasons[0]
    assert "no row with key" in reasons[1]
    assert "'balance' is not in write_columns" in reasons[2]
    assert "key column 'id'" in reasons[3]
    assert "not a valid INTEGER" in reasons[4]
    assert [r["email"] for r in db.rows(table)] == [
        "user1@example.com",
        "ok@example.com",
        "user3@example.com",
    ]


def test_typed_values_compare_equal_after_the_round_trip(db: Database) -> None:
    table = db.create_customers(rows=seed_rows(3))
    connector = db.connector(table=table, write_columns=["balance", "updated_at"])
    rows = [
        upsert("1", balance="12.30", updated_at="2024-05-01T10:00:00"),
        upsert("2", balance=2.5),  # equal to the seeded 2.50
    ]
    assert statuses(connector.write(table, rows)) == ["applied", "unchanged"]
    assert statuses(connector.write(table, rows)) == ["unchanged", "unchanged"]


def test_add_missing_columns_creates_the_golden_id_column(db: Database) -> None:
    table = db.create_customers(rows=seed_rows(3))
    connector = db.connector(
        table=table, write_columns=["crmhub_id", "email"], add_missing_columns=True
    )
    rows = [upsert("1", crmhub_id="G-0001"), upsert("3", crmhub_id="G-0003", email="c@x.org")]
    assert statuses(connector.write(table, rows)) == ["applied", "applied"]
    assert [r["crmhub_id"] for r in db.rows(table)] == ["G-0001", None, "G-0003"]
    assert statuses(connector.write(table, rows)) == ["unchanged", "unchanged"]


def test_missing_column_without_add_missing_columns_is_rejected(db: Database) -> None:
    table = db.create_customers(rows=seed_rows(2))
    connector = db.connector(table=table, write_columns=["crmhub_id"])
    report = connector.write(table, [upsert("1", crmhub_id="G-1")])
    assert statuses(report) == ["rejected"]
    assert "has no column 'crmhub_id'" in report.rows[0].reason


def test_upsert_mode_inserts_rows_that_are_not_there(db: Database) -> None:
    table = db.create_customers()  # empty, so the key sequence and explicit keys do not meet
    connector = db.connector(table=table, write_columns=["email"], write_mode="upsert")
    rows = [upsert("50", email="fifty@example.com"), upsert(None, email="auto@example.com")]
    assert statuses(connector.write(table, rows)) == ["applied", "applied"]
    emails = {r["id"]: r["email"] for r in db.rows(table)}
    assert emails[50] == "fifty@example.com"
    assert sorted(emails.values()) == ["auto@example.com", "fifty@example.com"]
    assert statuses(connector.write(table, rows[:1])) == ["unchanged"]


def test_a_row_the_database_refuses_is_rejected_and_the_others_applied(db: Database) -> None:
    name = db.unique_name("people")
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(100), unique=True),
    )
    table.create(db.engine)
    with db.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "email": f"p{i}@example.com"} for i in (1, 2, 3)])
    connector = db.connector(table=name, write_columns=["email"])
    rows = [
        upsert("1", email="new1@example.com"),
        upsert("2", email="p3@example.com"),  # would break the unique email constraint
        upsert("3", email="new3@example.com"),
    ]
    report = connector.write(name, rows)
    assert statuses(report) == ["applied", "rejected", "applied"]
    assert "refused by the database" in report.rows[1].reason
    assert [r["email"] for r in db.rows(name)] == [
        "new1@example.com",
        "p2@example.com",
        "new3@example.com",
    ]


def test_composite_key_is_split_on_the_bar(db: Database) -> None:
    table = db.create_customers(rows=seed_rows(3))
    connector = db.connector(table=table, key=["id", "first_name"], write_columns=["email"])
    report = connector.write(
        table, [upsert("2|Name2", email="two@example.com"), upsert("2|Other", email="x@y.z")]
    )
    assert statuses(report) == ["applied", "rejected"]
    assert db.rows(table)[1]["email"] == "two@example.com"


def test_write_to_a_query_source_needs_write_table(db: Database) -> None:
    table = db.create_customers(rows=seed_rows(2))
    connector = db.connector(query=f"SELECT id, email FROM {table}")
    with pytest.raises(SourceContractError, match="needs 'write_table'"):
        connector.write("query", [upsert("1", email="a@b.c")])
    connector = db.connector(query=f"SELECT id, email FROM {table}", write_table=table)
    assert statuses(connector.write("query", [upsert("1", email="a@b.c")])) == ["applied"]


def test_identifiers_from_config_cannot_inject_sql(db: Database) -> None:
    """Table and column names full of quotes and statements are only ever names."""
    victim = db.create_customers(name="victim_table")
    evil_table = 'cust"`; DROP TABLE victim_table; --'
    evil_column = "email\"`'); DROP TABLE victim_table; --"
    evil_golden = 'golden"`:x %s %(y)s; DROP TABLE victim_table; --'
    table = sa.Table(
        evil_table,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(evil_column, sa.String(100)),
        sa.Column("updated_at", sa.Integer),
    )
    table.create(db.engine)
    with db.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, evil_column: "x", "updated_at": i} for i in (1, 2)])
    connector = db.connector(
        table=evil_table,
        cursor="updated_at",
        write_columns=[evil_column, evil_golden],
        add_missing_columns=True,
    )
    assert connector.check().ok
    batches = list(connector.read(evil_table, {"cursor": 1, "cursor_type": "int"}))
    assert [r["id"] for b in batches for r in b.records] == [1, 2]
    report = connector.write(evil_table, [upsert("1", **{evil_column: "y", evil_golden: "G-1"})])
    assert statuses(report) == ["applied"], report.rows[0].reason
    assert [(r[evil_column], r[evil_golden]) for r in db.rows(evil_table)] == [
        ("y", "G-1"),
        ("x", None),
    ]
    missing = db.connector(table='nope"; DROP TABLE victim_table; --').check()
    assert not missing.ok
    assert db.has_table(victim)
