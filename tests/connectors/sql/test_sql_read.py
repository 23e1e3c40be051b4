"""check, discover and (incremental, resumable) read on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice

import pytest
import sqlalchemy as sa
from sql_support import BASE_TIME, ROWS, Database, customers_table, ids, seed_rows

from crmhub.connectors.base import StreamSpec

SECRET = "not-the-password-4711"


def test_check_ok(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    result = db.connector(table=table, cursor="updated_at").check()
    assert result.ok, result.message


def test_check_bad_credentials_is_one_clean_line(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQL_TEST_PASSWORD", SECRET)
    url = sa.make_url(db.url)
    if db.backend == "sqlite":  # no login: the equivalent failure is a silo that is not there
        url = url.set(database=str(url.database) + ".missing")
        expected = "database file not found"
    else:  # PostgreSQL trusts local logins, so use a role that does not exist
        url = url.set(username="crmhub_no_such_role")
        expected = "login refused"
    connector = db.connector(
        url=url.render_as_string(), table="t", password={"env": "SQL_TEST_PASSWORD"}
    )
    result = connector.check()
    assert not result.ok
    assert expected in result.message
    assert result.message.startswith("accounting: ")
    assert "\n" not in result.message and "Traceback" not in result.message
    assert SECRET not in result.message


def test_check_missing_table_names_the_table(db: Database) -> None:
    db.create_customers(name="present_table")
    result = db.connector(table="absent_table").check()
    assert not result.ok
    assert "table 'absent_table' not found" in result.message
    assert "present_table" in result.message


def test_check_missing_key_column(db: Database) -> None:
    table = db.create_customers()
    result = db.connector(table=table, key="customer_no").check()
    assert not result.ok
    assert "'customer_no' not found" in result.message


def test_discover_reports_key_cursor_and_columns(db: Database) -> None:
    table = db.create_customers()
    specs = db.connector(table=table, cursor="updated_at").discover()
    assert specs == [
        StreamSpec(
            name=table,
            key=("id",),
            cursor="updated_at",
            columns=("id", "first_name", "email", "balance", "updated_at"),
        )
    ]


def test_full_read_returns_exactly_the_seeded_rows(db: Database) -> None:
    seeded = seed_rows()
    table = db.create_customers(rows=seeded)
    batches = list(db.connector(table=table, batch_size=4).read(table, None))
    assert sorted(ids(batches)) == [row["id"] for row in seeded]
    assert all(len(b.records) <= 4 for b in batches)
    by_id = {r["id"]: r for b in batches for r in b.records}
    assert by_id[3]["email"] == "user3@example.com"
    assert by_id[3]["first_name"] == "Name3"
    assert set(by_id[3]) == {"id", "first_name", "email", "balance", "updated_at"}


def test_incremental_read_is_in_cursor_order_with_null_cursor_rows_first(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    batches = list(db.connector(table=table, cursor="updated_at", batch_size=5).read(table, None))
    read = ids(batches)
    assert read[:2] == [4, 19]  # rows without a cursor value come first, in key order
    expected_rest = sorted(
        (r for r in seed_rows() if r["updated_at"] is not None),
        key=lambda r: (r["updated_at"], r["id"]),
    )
    assert read[2:] == [r["id"] for r in expected_rest]


def test_resume_from_every_batch_loses_and_duplicates_nothing(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    connector = db.connector(table=table, cursor="updated_at", batch_size=5)
    batches = list(connector.read(table, None))
    assert len(batches) >= 5
    for k, batch in enumerate(batches):
        state = json.loads(json.dumps(batch.state_after))  # as the hub stores it
        resumed = ids(list(connector.read(table, state)))
        assert resumed == ids(batches[k + 1 :]), f"resume after batch {k}"


def test_crash_between_batches_resumes_exactly(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    connector = db.connector(table=table, cursor="updated_at", batch_size=3)
    for crash_after in (1, 2, 4, 6):
        reader = connector.read(table, None)
        done = list(islice(reader, crash_after))
        reader.close()  # the process dies; only the last committed state survives
        state = json.loads(json.dumps(done[-1].state_after))
        rest = list(connector.read(table, state))
        assert sorted(ids(done) + ids(rest)) == list(range(1, ROWS + 1))


def test_later_read_sees_changes_at_and_after_the_boundary(db: Database) -> None:
    table_name = db.create_customers(rows=seed_rows())
    connector = db.connector(table=table_name, cursor="updated_at", batch_size=5)
    state = list(connector.read(table_name, None))[-1].state_after
    last = BASE_TIME + timedelta(minutes=ROWS // 7)
    table = customers_table(table_name)
    with db.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 100, "email": "late@example.com", "updated_at": last}])
        conn.execute(
            table.update().where(table.c.id == 2).values(updated_at=last + timedelta(hours=1))
        )
    assert list(connector.read(table_name, state)) != []
    assert ids(list(connector.read(table_name, state))) == [100, 2]


def test_nothing_new_reads_nothing(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    connector = db.connector(table=table, cursor="updated_at", batch_size=5)
    state = list(connector.read(table, None))[-1].state_after
    assert list(connector.read(table, state)) == []


def test_query_mode_reads_and_resumes(db: Database) -> None:
    table = db.create_customers(rows=seed_rows())
    query = (
        f"SELECT id, email, updated_at FROM {table} "
        "WHERE email LIKE '%@example.com' AND first_name <> 'a:b'"
    )
    connector = db.connector(query=query, cursor="updated_at", batch_size=4)
    assert connector.check().ok
    assert connector.discover()[0].name == "query"
    assert connector.discover()[0].columns == ("id", "email", "updated_at")
    batches = list(connector.read("query", None))
    assert sorted(ids(batches)) == list(range(1, ROWS + 1))
    resumed = list(connector.read("query", batches[2].state_after))
    assert ids(resumed) == ids(batches[3:])


CURSOR_TYPES = [
    (
        "timestamptz",
        sa.DateTime(timezone=True),
        [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 1, 1, 2)],
    ),
    ("bigint", sa.BigInteger(), [2**40, 2**40, 2**40, 2**41]),
    ("date", sa.Date(), [date(2024, 1, 1)] * 3 + [date(2024, 1, 5)]),
    ("numeric", sa.Numeric(10, 3), [Decimal("1.5")] * 3 + [Decimal("2.25")]),
    ("text", sa.String(20), ["a", "a", "a", "b"]),
]


@pytest.mark.parametrize(
    ("label", "type_", "values"), CURSOR_TYPES, ids=[c[0] for c in CURSOR_TYPES]
)
def test_resume_works_for_every_cursor_type(
    db: Database, label: str, type_: sa.types.TypeEngine[object], values: list[object]
) -> None:
    name = db.unique_name(f"cur_{label}")
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("changed", type_),
    )
    table.create(db.engine)
    with db.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "changed": v} for i, v in enumerate(values, 1)])
    connector = db.connector(table=name, cursor="changed", batch_size=2)
    batches = list(connector.read(name, None))
    assert sorted(ids(batches)) == [1, 2, 3, 4]
    for k, batch in enumerate(batches):
        state = json.loads(json.dumps(batch.state_after))
        assert ids(list(connector.read(name, state))) == ids(batches[k + 1 :])


@pytest.mark.mariadb
def test_password_reference_logs_in_and_never_leaks(
    mariadb_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A real login with a password from the environment; a wrong one fails in one line."""
    url = sa.make_url(mariadb_url)
    user, secret = "crmhub_pw_user", "s3cret-Pa55-for-test"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{secret}'"))
        conn.execute(sa.text(f"GRANT ALL ON `{url.database}`.* TO '{user}'@'%'"))
    try:
        db = Database("mariadb", url.set(username=user).render_as_string(), admin)
        table = db.create_customers(rows=seed_rows(3))
        monkeypatch.setenv("ACCOUNTING_DB_PASSWORD", secret)
        caplog.set_level("DEBUG")
        connector = db.connector(table=table, password={"env": "ACCOUNTING_DB_PASSWORD"})
        assert connector.check().ok
        assert sorted(ids(list(connector.read(table, None)))) == [1, 2, 3]
        monkeypatch.setenv("ACCOUNTING_DB_PASSWORD", "wrong-" + secret)
        refused = db.connector(table=table, password={"env": "ACCOUNTING_DB_PASSWORD"}).check()
        assert not refused.ok and "login refused" in refused.message
        assert secret not in refused.message + caplog.text + repr(connector.config)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()
