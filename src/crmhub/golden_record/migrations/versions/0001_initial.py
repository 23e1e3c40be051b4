"""Initial golden-record schema: staging, golden records, xref, history, state, public views.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

The canonical column list is spelled out here (not imported) so this revision stays what it was
when later revisions change the canonical model.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CANONICAL = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "street",
    "city",
    "postal_code",
    "country",
    "company",
    "tax_id",
    "balance",
    "credit_limit",
    "risk_band",
    "last_purchase_at",
    "source_updated_at",
)

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)

VIEWS = {
    "golden_customers": (
        "SELECT golden_id, "
        + ", ".join(CANONICAL)
        + ", version, created_at, updated_at FROM golden_customer WHERE status = 'active'"
    ),
    "customer_sources": (
        "SELECT x.golden_id, x.source, x.stream, x.source_id, x.record_id, "
        "r.source_updated_at, r.first_seen_at, r.last_seen_at, r.deleted "
        "FROM customer_xref x JOIN source_record r ON r.id = x.record_id"
    ),
}


def _canonical() -> list[sa.Column[str]]:
    return [sa.Column(name, sa.Text(), nullable=True) for name in CANONICAL]


def _run_fk(column: str, table: str, *, nullable: bool = False) -> list[sa.SchemaItem]:
    return [
        sa.Column(column, sa.Integer(), nullable=nullable),
        sa.ForeignKeyConstraint([column], ["run.run_id"], name=f"fk_{table}_{column}_run"),
    ]


def _golden_fk(column: str, table: str, *, nullable: bool) -> list[sa.SchemaItem]:
    return [
        sa.Column(column, sa.String(32), nullable=nullable),
        sa.ForeignKeyConstraint(
            [column], ["golden_customer.golden_id"], name=f"fk_{table}_{column}_golden_customer"
        ),
    ]


def _id(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def _create_run() -> None:
    op.create_table(
        "run",
        sa.Column("run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", JSON, nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_run"),
    )


def _create_golden_customer() -> None:
    op.create_table(
        "golden_customer",
        sa.Column("golden_id", sa.String(32), nullable=False),
        *_canonical(),
        sa.Column("provenance", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_golden_fk("merged_into", "golden_customer", nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('active', 'retired')", name="ck_golden_customer_status"),
        sa.PrimaryKeyConstraint("golden_id", name="pk_golden_customer"),
    )
    op.create_index("ix_golden_customer_status", "golden_customer", ["status"])


def _create_source_record() -> None:
    op.create_table(
        "source_record",
        *_id("source_record"),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        *_canonical(),
        sa.Column("first_seen_run", sa.Integer(), nullable=False),
        sa.Column("last_seen_run", sa.Integer(), nullable=False),
        sa.Column("changed_run", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        *_golden_fk("golden_id", "source_record", nullable=True),
        sa.UniqueConstraint(
            "source", "stream", "source_id", name="uq_source_record_source_stream_source_id"
        ),
    )


def _create_customer_xref() -> None:
    op.create_table(
        "customer_xref",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        *_golden_fk("golden_id", "customer_xref", nullable=False),
        sa.Column("record_id", BIG_ID, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["source_record.id"], name="fk_customer_xref_record_id_source_record"
        ),
        sa.PrimaryKeyConstraint("source", "stream", "source_id", name="pk_customer_xref"),
        sa.UniqueConstraint("record_id", name="uq_customer_xref_record_id"),
    )
    op.create_index("ix_customer_xref_golden_id", "customer_xref", ["golden_id"])


def _create_match_evidence() -> None:
    op.create_table(
        "match_evidence",
        *_id("match_evidence"),
        *_run_fk("run_id", "match_evidence"),
        sa.Column("left_id", BIG_ID, nullable=False),
        sa.Column("right_id", BIG_ID, nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(), nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["left_id"], ["source_record.id"], name="fk_match_evidence_left_id_source_record"
        ),
        sa.ForeignKeyConstraint(
            ["right_id"], ["source_record.id"], name="fk_match_evidence_right_id_source_record"
        ),
    )
    for column in ("run_id", "left_id", "right_id"):
        op.create_index(f"ix_match_evidence_{column}", "match_evidence", [column])


def _create_golden_event() -> None:
    op.create_table(
        "golden_event",
        *_id("golden_event"),
        *_run_fk("run_id", "golden_event"),
        *_golden_fk("golden_id", "golden_event", nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        *_golden_fk("other_golden_id", "golden_event", nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.CheckConstraint(
            "event_type IN ('created', 'updated', 'merged')", name="ck_golden_event_event_type"
        ),
    )
    op.create_index("ix_golden_event_run_id", "golden_event", ["run_id"])
    op.create_index("ix_golden_event_golden_id", "golden_event", ["golden_id"])


def _create_bookkeeping() -> None:
    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("state", JSON, nullable=True),
        *_run_fk("run_id", "sync_state", nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "stream", name="pk_sync_state"),
    )
    op.create_table(
        "quarantine",
        *_id("quarantine"),
        *_run_fk("run_id", "quarantine"),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("position", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_quarantine_run_id", "quarantine", ["run_id"])


def _create_writeback_log() -> None:
    op.create_table(
        "writeback_log",
        *_id("writeback_log"),
        *_run_fk("run_id", "writeback_log"),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint(
            "run_id", "idempotency_key", name="uq_writeback_log_run_id_idempotency_key"
        ),
    )
    op.create_index("ix_writeback_log_golden_id", "writeback_log", ["golden_id"])
    op.create_index("ix_writeback_log_idempotency_key", "writeback_log", ["idempotency_key"])


def upgrade() -> None:
    """Create every table, then the public views other applications read."""
    _create_run()
    _create_golden_customer()
    _create_source_record()
    _create_customer_xref()
    _create_match_evidence()
    _create_golden_event()
    _create_bookkeeping()
    _create_writeback_log()
    for name, select in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {select}")


def downgrade() -> None:
    """Drop the views and tables in dependency order."""
    for name in VIEWS:
        op.execute(f"DROP VIEW {name}")
    for table in (
        "writeback_log",
        "quarantine",
        "sync_state",
        "golden_event",
        "match_evidence",
        "customer_xref",
        "source_record",
        "golden_customer",
        "run",
    ):
        op.drop_table(table)
