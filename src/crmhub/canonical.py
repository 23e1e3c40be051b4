"""The canonical customer model every source is mapped onto.

Identity fields drive matching; silo facts (balance, credit limit, ...) ride along into the golden
record. Anything a mapping does not name stays in the raw payload of `source_record`.
"""

from __future__ import annotations

IDENTITY_FIELDS: tuple[str, ...] = (
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
"""Fields that describe who a customer is; matching compares these."""

FACT_FIELDS: tuple[str, ...] = (
    "balance",
    "credit_limit",
    "risk_band",
    "last_purchase_at",
    "source_updated_at",
)
"""Facts one silo knows about a customer; survivorship keeps them, matching ignores them."""

CANONICAL_FIELDS: tuple[str, ...] = IDENTITY_FIELDS + FACT_FIELDS
