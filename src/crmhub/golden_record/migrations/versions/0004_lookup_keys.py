"""Lookup keys: normalised phones, e-mails and names of active golden customers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

`crmhub.golden_record.lookup` finds a customer by a phone, e-mail or name typed any way; the
table holds those values already normalised, so a lookup is one probe of the primary key
(kind, key, golden_id), which also covers the query (no table access on PostgreSQL). The
table is derived data: `refresh_lookup_keys` rewrites the keys of the golden ids a build
touched, and fills the whole table on its first run after this upgrade. There is no foreign
key to golden_customer on purpose: readers join golden_customer anyway, and checking one per
key would slow down every refresh for rows that are rewritten wholesale.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the key table, keyed for lookups, with an index for per-customer rewrites."""
    op.create_table(
        "golden_lookup_key",
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('phone', 'email', 'name')", name="ck_golden_lookup_key_kind"),
        sa.PrimaryKeyConstraint("kind", "key", "golden_id", name="pk_golden_lookup_key"),
    )
    op.create_index("ix_golden_lookup_key_golden_id", "golden_lookup_key", ["golden_id"])


def downgrade() -> None:
    """Drop the key table; lookups need it, nothing else does."""
    op.drop_index("ix_golden_lookup_key_golden_id", table_name="golden_lookup_key")
    op.drop_table("golden_lookup_key")
