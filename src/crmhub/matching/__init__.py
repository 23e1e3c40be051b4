"""Matching: normalise -> block -> compare -> score -> cluster, with evidence per pair.

The entry points are `match_records` (records in canonical field names -> clusters and scored
pairs) and `dedupe_csv` (the same on one CSV file, for ``crmhub dedupe``).
"""

from __future__ import annotations

from crmhub.matching.dedupe import DedupeSummary, dedupe_csv
from crmhub.matching.engine import MatchResult, match_records
from crmhub.matching.settings import ComparisonSpec, MatchingSettings, Thresholds

__all__ = [
    "ComparisonSpec",
    "DedupeSummary",
    "MatchResult",
    "MatchingSettings",
    "Thresholds",
    "dedupe_csv",
    "match_records",
]
