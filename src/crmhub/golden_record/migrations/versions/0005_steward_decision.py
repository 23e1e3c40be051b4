"""Steward decisions: match / not a match between two records, by their stable keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "steward_decision",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("left_key", sa.Text(), nullable=False),
        sa.Column("right_key", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_steward_decision"),
        sa.UniqueConstraint("left_key", "right_key", name="uq_steward_decision_left_key_right_key"),
        sa.CheckConstraint(
            "decision IN ('match', 'not_match')", name="ck_steward_decision_decision"
        ),
    )


def downgrade() -> None:
    op.drop_table("steward_decision")
