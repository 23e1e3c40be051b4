"""Why two records were (or were not) linked: the stored evidence as text and as a waterfall.

Every pair a run merged or sent to review is kept in `match_evidence` with each comparison's
level and match weight (log2 of m/u). The total weight is the stratum's prior weight plus those
weights; `explain_pair` reads them back for two source records and `waterfall_svg` draws the
running total, so a steward sees at a glance which fields pushed the pair over the line.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import sqlalchemy as sa

from crmhub.errors import CrmhubError
from crmhub.golden_record.models import MatchEvidence, SourceRecord


@dataclass(frozen=True)
class Step:
    """One bar of the waterfall: a comparison's level and its weight (or the prior)."""

    label: str
    level: str
    weight: float


@dataclass(frozen=True)
class Explanation:
    """The stored score of one pair, split into its parts."""

    left: str
    right: str
    run_id: int
    rule: str | None
    decision: str
    probability: float
    total: float
    steps: tuple[Step, ...]
    """The prior first, then every comparison in declared order."""


def parse_record_ref(text: str) -> tuple[str, str, str | None]:
    """`source:source_id` or `source/stream:source_id` -> (source, source_id, stream)."""
    source, sep, source_id = text.partition(":")
    if not sep or not source or not source_id:
        raise CrmhubError(
            f"record {text!r}: write it as source:source_id (e.g. sales:5516), or "
            "source/stream:source_id when the source has several streams"
        )
    source, _, stream = source.partition("/")
    return source, source_id, stream or None


def explain_pair(engine: sa.Engine, left: str, right: str) -> Explanation:
    """The newest stored evidence of the pair `left`, `right` (both `source:source_id`).

    Raises:
        CrmhubError: a record is unknown, or the pair was never merged or sent to review.
    """
    with engine.connect() as conn:
        ids = [find_record(conn, ref) for ref in (left, right)]
        low, high = sorted(ids)
        table = MatchEvidence.__table__
        row = (
            conn.execute(
                sa.select(table)
                .where(table.c.left_id == low, table.c.right_id == high)
                .order_by(table.c.run_id.desc(), table.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise CrmhubError(
            f"{left} and {right} were never merged or sent to review: they were not blocked "
            "together or scored below the review threshold (see `crmhub blocking`)"
        )
    items = row["evidence"]
    if isinstance(items, str):  # a JSON column read back as text on some drivers
        items = json.loads(items)
    parts = [
        Step(str(item["comparison"]), str(item["level"]), float(item["weight"]))
        for item in items or []
    ]
    prior = float(row["weight"]) - sum(step.weight for step in parts)
    steps = (Step("prior", row["rule"] or "", prior), *parts)
    return Explanation(
        left,
        right,
        int(row["run_id"]),
        row["rule"],
        str(row["decision"]),
        float(row["probability"]),
        float(row["weight"]),
        steps,
    )


def find_record(conn: sa.Connection, ref: str) -> int:
    """The source_record id of `ref` (`source:source_id` or `source/stream:source_id`)."""
    source, source_id, stream = parse_record_ref(ref)
    query = sa.select(SourceRecord.id, SourceRecord.stream).where(
        SourceRecord.source == source, SourceRecord.source_id == source_id
    )
    if stream is not None:
        query = query.where(SourceRecord.stream == stream)
    rows = conn.execute(query).all()
    if not rows:
        raise CrmhubError(f"record {ref!r} is not in the golden-record DB")
    if len(rows) > 1:
        streams = ", ".join(sorted(r.stream for r in rows))
        raise CrmhubError(f"record {ref!r} is in several streams ({streams}): name one")
    return int(rows[0].id)


def waterfall_svg(explanation: Explanation, *, width: int = 720) -> str:
    """A waterfall chart of the running weight as a standalone SVG document."""
    bars = [s for s in explanation.steps if s.weight != 0.0 or s.label == "prior"]
    row, left_margin, right_margin, top = 26, 230, 70, 40
    height = top + row * (len(bars) + 1) + 30
    values = [0.0]
    for step in bars:
        values.append(values[-1] + step.weight)
    low, high = min(*values, 0.0), max(*values, 0.0)
    span = (high - low) or 1.0
    plot = width - left_margin - right_margin

    def x(value: float) -> float:
        return left_margin + (value - low) / span * plot

    title = html.escape(
        f"{explanation.left} vs {explanation.right}: total {explanation.total:+.1f} "
        f"(p={explanation.probability:.4f}, {explanation.decision})"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="22" font-size="14" font-weight="bold">{title}</text>',
        f'<line x1="{x(0):.1f}" y1="{top - 6}" x2="{x(0):.1f}" y2="{height - 24}" '
        'stroke="#888" stroke-dasharray="3,3"/>',
    ]
    running = 0.0
    for index, step in enumerate(bars):
        y = top + index * row
        start, end = running, running + step.weight
        running = end
        colour = "#2e7d32" if step.weight >= 0 else "#c62828"
        label = html.escape(step.label if step.label == "prior" else f"{step.label}: {step.level}")
        parts += [
            f'<text x="10" y="{y + 16}">{label}</text>',
            f'<rect x="{min(x(start), x(end)):.1f}" y="{y + 4}" '
            f'width="{max(abs(x(end) - x(start)), 1):.1f}" height="{row - 8}" fill="{colour}"/>',
            f'<text x="{max(x(start), x(end)) + 4:.1f}" y="{y + 16}">{step.weight:+.2f}</text>',
        ]
    y = top + len(bars) * row
    parts += [
        f'<text x="10" y="{y + 16}" font-weight="bold">total</text>',
        f'<rect x="{min(x(0), x(running)):.1f}" y="{y + 4}" '
        f'width="{max(abs(x(running) - x(0)), 1):.1f}" height="{row - 8}" fill="#1565c0"/>',
        f'<text x="{max(x(0), x(running)) + 4:.1f}" y="{y + 16}" '
        f'font-weight="bold">{running:+.2f}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
