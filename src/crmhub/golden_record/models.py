"""SQLAlchemy models of the golden-record database.

The tables are the hub's working storage; other applications should read the public views
(`readers.PUBLIC_VIEWS`: golden_customers, customer_sources, customer_360, golden_history,
golden_id_map; created by the migrations), which stay stable when tables change. Every canonical
value is stored as text exactly as the source gave it (dates in ISO 8601), because silos disagree
on types and one unparseable value must never stop a bulk load. The schema itself is created by
the Alembic migrations shipped in `crmhub.golden_record.migrations`; these models describe it
for queries and for the test that compares both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit ids on PostgreSQL; INTEGER on SQLite so the column aliases the rowid."""

Json = sa.JSON().with_variant(JSONB(), "postgresql")
"""JSON documents; JSONB on PostgreSQL so readers can index and query them."""

Timestamp = sa.DateTime(timezone=True)

VERSION_TABLE = "crmhub_alembic_version"
"""Alembic's version table, named so it cannot clash with an application's own."""

GOLDEN_STATUSES = ("active", "retired")
EVENT_TYPES = ("created", "updated", "merged")


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so constraint names match the migrations."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class CanonicalColumns:
    """One nullable text column per canonical field (see `crmhub.canonical`)."""

    first_name: Mapped[str | None] = mapped_column(sa.Text)
    last_name: Mapped[str | None] = mapped_column(sa.Text)
    email: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.Text)
    birth_date: Mapped[str | None] = mapped_column(sa.Text)
    street: Mapped[str | None] = mapped_column(sa.Text)
    city: Mapped[str | None] = mapped_column(sa.Text)
    postal_code: Mapped[str | None] = mapped_column(sa.Text)
    country: Mapped[str | None] = mapped_column(sa.Text)
    company: Mapped[str | None] = mapped_column(sa.Text)
    tax_id: Mapped[str | None] = mapped_column(sa.Text)
    balance: Mapped[str | None] = mapped_column(sa.Text)
    credit_limit: Mapped[str | None] = mapped_column(sa.Text)
    risk_band: Mapped[str | None] = mapped_column(sa.Text)
    last_purchase_at: Mapped[str | None] = mapped_column(sa.Text)
    source_updated_at: Mapped[str | None] = mapped_column(sa.Text)


class Run(Base):
    """One execution of the sync flow; every written row points back to the run that wrote it."""

    __tablename__ = "run"

    run_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    summary: Mapped[dict[str, Any] | None] = mapped_column(Json)


class SourceRecord(CanonicalColumns, Base):
    """One record of one source stream, as last seen.

    `raw` keeps the fields the canonical columns do not give back exactly; both together are
    the full record (`crmhub.golden_record.payload.rebuild_record`).
    """

    __tablename__ = "source_record"
    __table_args__ = (sa.UniqueConstraint("source", "stream", "source_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(sa.String)
    stream: Mapped[str] = mapped_column(sa.String)
    source_id: Mapped[str] = mapped_column(sa.String)
    raw: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(32))
    # Run ids without a foreign key: checking three constraints per staged row costs more than
    # the insert itself, and every run id written here comes from `start_run`.
    first_seen_run: Mapped[int] = mapped_column(sa.Integer)
    last_seen_run: Mapped[int] = mapped_column(sa.Integer)
    changed_run: Mapped[int] = mapped_column(sa.Integer)
    first_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    golden_id: Mapped[str | None] = mapped_column(sa.ForeignKey("golden_customer.golden_id"))


class GoldenCustomer(CanonicalColumns, Base):
    """The surviving view of one customer; ids are stable and never reused."""

    __tablename__ = "golden_customer"
    __table_args__ = (
        sa.CheckConstraint("status IN ('active', 'retired')", name="status"),
        sa.Index(None, "status"),
    )

    golden_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(Json)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    merged_into: Mapped[str | None] = mapped_column(sa.ForeignKey("golden_customer.golden_id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class CustomerXref(Base):
    """What each system calls a customer: (source, stream, source_id) -> golden id."""

    __tablename__ = "customer_xref"

    source: Mapped[str] = mapped_column(sa.String, primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String, primary_key=True)
    source_id: Mapped[str] = mapped_column(sa.String, primary_key=True)
    golden_id: Mapped[str] = mapped_column(sa.ForeignKey("golden_customer.golden_id"), index=True)
    record_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("source_record.id"), unique=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class MatchEvidence(Base):
    """A scored pair a run accepted or sent to review: why two records were linked."""

    __tablename__ = "match_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.run_id"), index=True)
    left_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("source_record.id"), index=True)
    right_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("source_record.id"), index=True)
    weight: Mapped[float] = mapped_column(sa.Float)
    probability: Mapped[float] = mapped_column(sa.Float)
    decision: Mapped[str] = mapped_column(sa.String(16))
    rule: Mapped[str | None] = mapped_column(sa.String)
    evidence: Mapped[Any] = mapped_column(Json)


class GoldenEvent(Base):
    """History of golden records: created, updated (values changed) and merged (id retired)."""

    __tablename__ = "golden_event"
    __table_args__ = (
        sa.CheckConstraint("event_type IN ('created', 'updated', 'merged')", name="event_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.run_id"), index=True)
    golden_id: Mapped[str] = mapped_column(sa.ForeignKey("golden_customer.golden_id"), index=True)
    event_type: Mapped[str] = mapped_column(sa.String(16))
    other_golden_id: Mapped[str | None] = mapped_column(sa.ForeignKey("golden_customer.golden_id"))
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(Timestamp)


class SyncState(Base):
    """Bookmark of one source stream, committed in the transaction of the data it covers."""

    __tablename__ = "sync_state"

    source: Mapped[str] = mapped_column(sa.String, primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String, primary_key=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(Json)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.run_id"))
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class StreamSchema(Base):
    """Field types a source stream had when last read, to notice new, removed, retyped fields."""

    __tablename__ = "stream_schema"

    source: Mapped[str] = mapped_column(sa.String, primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String, primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Quarantine(Base):
    """A raw record that could not be staged, with where it was and why."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.run_id"), index=True)
    source: Mapped[str] = mapped_column(sa.String)
    stream: Mapped[str] = mapped_column(sa.String)
    position: Mapped[str | None] = mapped_column(sa.String)
    reason: Mapped[str] = mapped_column(sa.Text)
    raw: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(Timestamp)


class WritebackLog(Base):
    """One row sent back to a source and its outcome; the idempotency key makes retries safe."""

    __tablename__ = "writeback_log"
    __table_args__ = (sa.UniqueConstraint("run_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.run_id"))
    source: Mapped[str] = mapped_column(sa.String)
    stream: Mapped[str] = mapped_column(sa.String)
    external_id: Mapped[str | None] = mapped_column(sa.String)
    golden_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String, index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(Timestamp)


class GoldenLookupKey(Base):
    """A normalised phone, e-mail or name of an active golden customer, for `lookup`."""

    __tablename__ = "golden_lookup_key"
    __table_args__ = (
        sa.PrimaryKeyConstraint("kind", "key", "golden_id"),
        sa.CheckConstraint("kind IN ('phone', 'email', 'name')", name="kind"),
    )

    # no foreign key: derived rows, rewritten wholesale by `refresh_lookup_keys`
    golden_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    key: Mapped[str] = mapped_column(sa.Text)


STEWARD_DECISIONS = ("match", "not_match")


class StewardDecision(Base):
    """A person's decision about two records, by their stable keys (source/stream/source_id),
    so it survives re-ingesting the records; every later run honours it."""

    __tablename__ = "steward_decision"
    __table_args__ = (
        sa.UniqueConstraint("left_key", "right_key"),
        sa.CheckConstraint("decision IN ('match', 'not_match')", name="decision"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    left_key: Mapped[str] = mapped_column(sa.Text)
    right_key: Mapped[str] = mapped_column(sa.Text)
    decision: Mapped[str] = mapped_column(sa.String(16))
    decided_by: Mapped[str] = mapped_column(sa.String)
    decided_at: Mapped[datetime] = mapped_column(Timestamp)
    note: Mapped[str | None] = mapped_column(sa.Text)
