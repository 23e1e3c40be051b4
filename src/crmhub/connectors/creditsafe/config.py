"""Config of the `creditsafe` connector: which companies to read, and how gently.

Every company report costs Creditsafe credits, so the companies come from a list the user
controls, a monitoring portfolio or a search, and `max_reports` stops a read that would buy
more reports than expected before it buys any.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crmhub.config.secrets import SecretRef
from crmhub.connectors.base import ConnectorConfig
from crmhub.connectors.credit import BureauMapping
from crmhub.connectors.creditsafe.mapping import CREDITSAFE_MAPPING

DEFAULT_BASE_URL = "https://connect.creditsafe.com/v1"
SEARCH_PAGE_SIZE_MAX = 1000
"""Creditsafe's largest page for company searches and portfolio listings."""


class CompanySearch(BaseModel):
    """Criteria of ``GET /companies``: `countries` plus any of the other documented filters.

    Keys are snake_case here and sent in Creditsafe's camelCase (``reg_no`` -> ``regNo``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    countries: list[str] = Field(min_length=1)
    reg_no: str | None = None
    vat_no: str | None = None
    safe_no: str | None = None
    id: str | None = None
    name: str | None = None
    trade_name: str | None = None
    street: str | None = None
    city: str | None = None
    post_code: str | None = None
    province: str | None = None
    phone_no: str | None = None
    status: str | None = None
    type: str | None = None
    exact: bool | None = None

    @field_validator("countries", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("countries")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"countries are ISO 3166 alpha-2 codes such as GB or DE, not {bad}")
        return [c.upper() for c in value]

    def params(self) -> dict[str, str]:
        """The query parameters Creditsafe expects."""
        params = {"countries": ",".join(self.countries)}
        for name, value in self.model_dump(exclude={"countries"}, exclude_none=True).items():
            params[_camel(name)] = str(value).lower() if isinstance(value, bool) else str(value)
        return params


class CreditsafeConfig(ConnectorConfig):
    """One stream, ``companies``: the credit assessments of a portfolio's or a search's companies.

    Exactly one of `portfolio_id` and `search` says which companies; write-back adds companies
    to `write_portfolio_id` (default `portfolio_id`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["creditsafe"]
    base_url: str = DEFAULT_BASE_URL
    username: str | SecretRef
    password: SecretRef
    portfolio_id: str | None = None
    search: CompanySearch | None = None
    write_portfolio_id: str | None = None
    page_size: int = Field(100, ge=1, le=SEARCH_PAGE_SIZE_MAX)
    max_reports: int = Field(1000, ge=1)
    language: str = Field("en", min_length=2, max_length=5)
    free_text: str | None = Field(None, max_length=500)
    report_mapping: Path | None = None
    extra_fields: dict[str, str] = Field(default_factory=dict)
    requests_per_second: float = Field(2.0, gt=0)
    timeout: float = Field(30.0, gt=0)
    settle_seconds: int = Field(300, ge=0)
    """Portfolio reads keep `since` this far behind Creditsafe's clock for late events."""

    @field_validator("portfolio_id", "write_portfolio_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, e.g. {DEFAULT_BASE_URL}")
        return value.rstrip("/")

    @field_validator("report_mapping", mode="after")
    @classmethod
    def _anchor(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """A relative mapping file is relative to hub.yaml, like every other path."""
        base = (info.context or {}).get("base_dir")
        if value is not None and base and not value.is_absolute():
            return Path(base) / value
        return value

    @model_validator(mode="after")
    def _one_source_of_companies(self) -> CreditsafeConfig:
        if (self.portfolio_id is None) == (self.search is None):
            raise ValueError(
                "give exactly one of 'portfolio_id' (a monitoring portfolio to read) or "
                "'search' (e.g. {countries: [GB], reg_no: '01234567'})"
            )
        return self

    @model_validator(mode="after")
    def _mapping_loads(self) -> CreditsafeConfig:
        """Load the report mapping now, so a bad file or column fails at config time."""
        try:
            self.bureau_mapping()
        except OSError as exc:
            where = f"report_mapping {self.report_mapping}"
            raise ValueError(f"cannot read {where}: {exc.strerror}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'mapping'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"report mapping is not valid: {problems}") from None
        return self

    @property
    def target_portfolio(self) -> str | None:
        """The portfolio write-back adds companies to."""
        return self.write_portfolio_id or self.portfolio_id

    def bureau_mapping(self) -> BureauMapping:
        """The report mapping: the YAML file when given, else Creditsafe's, plus extra fields."""
        mapping = (
            BureauMapping.from_yaml(self.report_mapping)
            if self.report_mapping is not None
            else CREDITSAFE_MAPPING
        )
        if not self.extra_fields:
            return mapping
        extra = {**mapping.model_dump()["extra"], **self.extra_fields}
        return BureauMapping.model_validate({**mapping.model_dump(), "extra": extra})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
