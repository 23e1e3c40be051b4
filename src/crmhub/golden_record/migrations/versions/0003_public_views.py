"""Public views for other applications: customer_360, golden_history, golden_id_map.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Billing, marketing and call-centre screens read these views, never the tables, so the tables
stay free to change. The SQL is spelled out here (not imported) so this revision stays what it
was when later revisions change the views. It is portable SQL except three small expressions
(numeric test, source list, JSON field) that SQLite and PostgreSQL spell differently.

Silo facts are text as the source gave it; the views count only what can be compared safely:
a balance that is a plain decimal number, a date that starts with an ISO 8601 date. A value in
another shape is left out rather than guessed at, and never makes the whole query fail (a bare
CAST of "n/a" to numeric would on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTITY = (
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
)

MAX_MERGE_HOPS = 64
"""Bound of the merge-chain walk; crmhub repoints old ids at each merge, so chains stay short."""

MEMBERS = (
    "FROM customer_xref x JOIN source_record r ON r.id = x.record_id "
    "WHERE x.golden_id = g.golden_id AND NOT r.deleted"
)
"""The live source records of golden customer `g` (records deleted in their source excluded)."""


def _is_iso(column: str) -> str:
    """True when `column` starts with a YYYY-MM-DD date, so text order is time order."""
    return f"{column} LIKE '____-__-__%'"


def _is_number(column: str, dialect: str) -> str:
    """True when `column` is a plain decimal number (optional sign, digits, at most one dot)."""
    value = f"trim({column})"
    if dialect == "postgresql":
        return f"{value} ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$'"
    # GLOB has no alternation: only digits, dots and signs; a digit; a sign only first; one dot
    return (
        f"({value} GLOB '*[0-9]*' AND {value} NOT GLOB '*[^0-9.+-]*' "
        f"AND {value} NOT GLOB '?*[+-]*' AND {value} NOT GLOB '*.*.*')"
    )


def _source_list(dialect: str) -> str:
    """Comma-separated distinct source names of the customer's live records, sorted."""
    if dialect == "postgresql":
        return f"(SELECT string_agg(DISTINCT r.source, ',' ORDER BY r.source) {MEMBERS})"
    # SQLite before 3.44 has no ORDER BY inside an aggregate: concatenate a sorted subquery
    return (
        "(SELECT group_concat(s.source, ',') FROM "
        f"(SELECT DISTINCT r.source AS source {MEMBERS} ORDER BY r.source) s)"
    )


def _json_text(column: str, key: str, dialect: str) -> str:
    """The text of top-level `key` of a JSON column."""
    if dialect == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def _json_list(column: str, key: str, dialect: str) -> str:
    """The string list at top-level `key` of a JSON column, joined with commas."""
    if dialect == "postgresql":
        return (
            f"(CASE WHEN jsonb_typeof({column} -> '{key}') = 'array' THEN "
            f"(SELECT string_agg(f.value, ',' ORDER BY f.n) FROM "
            f"jsonb_array_elements_text({column} -> '{key}') WITH ORDINALITY AS f(value, n)) END)"
        )
    return (
        f"(CASE WHEN json_type({column}, '$.{key}') = 'array' THEN "
        f"(SELECT group_concat(f.value, ',') FROM json_each({column}, '$.{key}') f) END)"
    )


def _latest_credit(column: str) -> str:
    """`column` of the customer's most recent record holding a credit limit or a risk band."""
    recency = f"CASE WHEN {_is_iso('r.source_updated_at')} THEN r.source_updated_at END"
    return (
        f"(SELECT {column} {MEMBERS} "
        "AND (r.credit_limit IS NOT NULL OR r.risk_band IS NOT NULL) "
        f"ORDER BY {recency} DESC NULLS LAST, r.changed_run DESC, r.id DESC LIMIT 1)"
    )


def customer_360(dialect: str) -> str:
    """One row per active golden customer: golden identity plus facts over its live records.

    Grouped at the top level (not a joined aggregate subquery) so a lookup by golden_id is an
    index probe on both databases instead of aggregating every customer first.
    """
    number = _is_number("r.balance", dialect)
    identity = ", ".join(f"g.{name}" for name in IDENTITY)
    return (
        f"SELECT g.golden_id, {identity}, "
        f"SUM(CASE WHEN {number} THEN CAST(trim(r.balance) AS NUMERIC) END) AS total_balance, "
        f"COUNT(CASE WHEN {number} THEN 1 END) AS balance_records, "
        f"{_latest_credit('r.credit_limit')} AS credit_limit, "
        f"{_latest_credit('r.risk_band')} AS risk_band, "
        f"{_latest_credit('r.source')} AS credit_source, "
        f"MAX(CASE WHEN {_is_iso('r.last_purchase_at')} THEN r.last_purchase_at END) "
        "AS last_purchase_at, "
        f"MAX(CASE WHEN {_is_iso('r.source_updated_at')} THEN r.source_updated_at END) "
        "AS last_source_update_at, "
        "COUNT(r.id) AS source_records, COUNT(DISTINCT r.source) AS source_count, "
        f"{_source_list(dialect)} AS sources, "
        "g.version, g.created_at, g.updated_at "
        "FROM golden_customer g "
        "LEFT JOIN customer_xref x ON x.golden_id = g.golden_id "
        "LEFT JOIN source_record r ON r.id = x.record_id AND NOT r.deleted "
        "WHERE g.status = 'active' "
        # grouping by the primary key lets PostgreSQL select the other golden columns as well
        "GROUP BY g.golden_id"
    )


def golden_history(dialect: str) -> str:
    """Every golden event with its run and, where the event stores it, what changed."""
    return (
        "SELECT e.id AS event_id, e.golden_id, e.event_type, e.at AS event_at, "
        f"{_json_list('e.details', 'fields', dialect)} AS changed_fields, "
        "CASE WHEN e.event_type = 'merged' THEN e.other_golden_id END AS merged_golden_id, "
        f"{_json_text('e.details', 'split_from', dialect)} AS split_from, "
        "e.details, e.run_id, r.started_at AS run_started_at, "
        "r.finished_at AS run_finished_at, r.status AS run_status "
        "FROM golden_event e JOIN run r ON r.run_id = e.run_id"
    )


def golden_id_map(_dialect: str) -> str:
    """Every golden id ever minted -> the active id it resolves to now (itself when active).

    Only retired ids seed the recursive walk, so looking up an active id costs one row.
    """
    return (
        "WITH RECURSIVE chain (golden_id, current_id, hops) AS ("
        "SELECT golden_id, merged_into, 1 FROM golden_customer WHERE merged_into IS NOT NULL "
        "UNION ALL "
        "SELECT c.golden_id, n.merged_into, c.hops + 1 FROM chain c "
        "JOIN golden_customer n ON n.golden_id = c.current_id "
        f"WHERE n.merged_into IS NOT NULL AND c.hops < {MAX_MERGE_HOPS}), "
        "resolved AS (SELECT c.golden_id, c.current_id, c.hops FROM chain c "
        "JOIN golden_customer t ON t.golden_id = c.current_id "
        "WHERE t.merged_into IS NULL AND t.status = 'active') "
        "SELECT g.golden_id, g.status, g.merged_into, "
        "CASE WHEN g.merged_into IS NOT NULL THEN s.current_id "
        "WHEN g.status = 'active' THEN g.golden_id END AS active_golden_id, "
        "CASE WHEN g.merged_into IS NOT NULL THEN s.hops "
        "WHEN g.status = 'active' THEN 0 END AS hops "
        "FROM golden_customer g LEFT JOIN resolved s ON s.golden_id = g.golden_id"
    )


VIEWS = {
    "customer_360": customer_360,
    "golden_history": golden_history,
    "golden_id_map": golden_id_map,
}


def upgrade() -> None:
    """Create the three views in the dialect of the connection."""
    dialect = op.get_bind().dialect.name
    for name, select in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {select(dialect)}")


def downgrade() -> None:
    """Drop the views; no table depends on them."""
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW {name}")
