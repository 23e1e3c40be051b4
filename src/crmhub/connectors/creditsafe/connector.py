"""The `creditsafe` connector: company credit assessments from Creditsafe Connect.

One stream, ``companies``: a `CreditAssessment` per company of a monitoring portfolio (read
incrementally through notification events) or of a search, plus the portfolio entry's
reference fields. Write-back adds companies to a portfolio with the golden id as reference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import ClassVar

from crmhub.config.secrets import SecretRef
from crmhub.connectors.base import (
    Batch,
    Capability,
    CheckResult,
    Connector,
    StreamSpec,
    StreamState,
    Upsert,
    WriteReport,
)
from crmhub.connectors.credit import BureauMapping
from crmhub.connectors.creditsafe.api import CreditsafeApi
from crmhub.connectors.creditsafe.auth import CreditsafeAuth
from crmhub.connectors.creditsafe.config import CreditsafeConfig
from crmhub.connectors.creditsafe.streams import (
    PORTFOLIO_COLUMNS,
    STREAM,
    PortfolioReader,
    ReportFetcher,
    SearchReader,
)
from crmhub.connectors.creditsafe.writer import PortfolioWriter
from crmhub.connectors.http import HttpClient, HttpStatusError, RateBudget
from crmhub.errors import AuthError, ConnectorError, SourceContractError

CURSOR = "assessed_at"


class CreditsafeConnector(Connector):
    """Reads credit assessments of a portfolio or search; writes companies into a portfolio."""

    kind: ClassVar[str] = "creditsafe"
    config_model: ClassVar[type[CreditsafeConfig]] = CreditsafeConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.INCREMENTAL,
            Capability.WRITE,
            Capability.AUTH,
            Capability.RETRY,
        }
    )
    default_mapping: ClassVar[Mapping[str, str | Sequence[str]]] = {
        "company": "company_name",
        "tax_id": "tax_id",
        "street": "street",
        "city": "city",
        "postal_code": "postal_code",
        "country": "country",
        "phone": "phone",
        "credit_limit": "credit_limit",
        "risk_band": "risk_band",
        "source_updated_at": "assessed_at",
    }

    def __init__(self, config: CreditsafeConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.config: CreditsafeConfig = config
        self.mapping: BureauMapping = config.bureau_mapping()
        self._http: HttpClient | None = None
        self._auth: CreditsafeAuth | None = None

    def check(self) -> CheckResult:
        """Log in and look at the portfolio or the search; a failure is one readable line."""
        try:
            what = self._probe()
        except ConnectorError as exc:
            return CheckResult(ok=False, message=_one_line(str(exc)))
        return CheckResult(ok=True, message=what)

    def discover(self) -> list[StreamSpec]:
        """The ``companies`` stream, keyed by Creditsafe's connectId."""
        return [StreamSpec(STREAM, ("company_id",), self._cursor, self._columns)]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Batches of `page_size` assessments from `state` on (everything when None)."""
        self._check_stream(stream)
        cfg, api = self.config, self._api()
        fetcher = ReportFetcher(api, self.mapping, self._columns)
        if cfg.portfolio_id is not None:
            reader: PortfolioReader | SearchReader = PortfolioReader(
                api,
                fetcher,
                cfg.portfolio_id,
                max_reports=cfg.max_reports,
                source=self.name,
                settle=timedelta(seconds=cfg.settle_seconds),
            )
        else:
            assert cfg.search is not None
            reader = SearchReader(
                api, fetcher, cfg.search.params(), max_reports=cfg.max_reports, source=self.name
            )
        yield from reader.read(state)

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Add the companies to the write portfolio with the golden id as personal reference."""
        self._check_stream(stream)
        portfolio = self.config.target_portfolio
        if portfolio is None:
            raise SourceContractError(
                "write-back needs 'write_portfolio_id' (or 'portfolio_id'): the monitoring "
                "portfolio to add companies to",
                source=self.name,
            )
        writer = PortfolioWriter(self._api(), portfolio, free_text=self.config.free_text)
        return writer.write(rows)

    def close(self) -> None:
        """Close pooled connections."""
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- internals --------------------------------------------------------------------------
    @property
    def _cursor(self) -> str | None:
        """Portfolio reads are incremental; a search is read in full every time."""
        return CURSOR if self.config.portfolio_id is not None else None

    @property
    def _columns(self) -> tuple[str, ...]:
        extra = PORTFOLIO_COLUMNS if self.config.portfolio_id is not None else ()
        return (*self.mapping.columns, *extra)

    def _probe(self) -> str:
        cfg, api = self.config, self._api()
        if cfg.portfolio_id is not None:
            try:
                portfolio = api.portfolio(cfg.portfolio_id)
            except HttpStatusError as exc:
                if exc.status == 404:
                    raise SourceContractError(
                        f"monitoring portfolio {cfg.portfolio_id} not found", source=self.name
                    ) from None
                raise
            name = portfolio.get("name") if isinstance(portfolio, dict) else None
            return f"portfolio {cfg.portfolio_id}" + (f" ({name})" if name else "")
        assert cfg.search is not None
        first = next(api.search(cfg.search.params()), None)
        total = first.total if first is not None else 0
        return f"search matches {total if total is not None else 'some'} companies"

    def _api(self) -> CreditsafeApi:
        return CreditsafeApi(
            self._client(), page_size=self.config.page_size, language=self.config.language
        )

    def _client(self) -> HttpClient:
        if self._http is None:
            cfg = self.config
            username = _resolve(cfg.username, self.name)
            # Creditsafe's quota is per account, so every source of one account shares it
            budget = RateBudget.shared(
                f"creditsafe:{cfg.base_url}:{username}", per_second=cfg.requests_per_second
            )
            self._auth = CreditsafeAuth(
                cfg.base_url,
                username,
                _resolve(cfg.password, self.name),
                budget=budget,
                timeout=cfg.timeout,
                source=self.name,
            )
            self._http = HttpClient(
                cfg.base_url,
                api="creditsafe",
                auth=self._auth,
                timeout=(min(10.0, cfg.timeout), cfg.timeout),
                budget=budget,
                source=self.name,
            )
        return self._http

    def _check_stream(self, stream: str) -> None:
        if stream != STREAM:
            raise SourceContractError(
                f"unknown stream {stream!r}; this source has only {STREAM!r}", source=self.name
            )


def _resolve(value: object, source: str) -> str:
    """A config value that is text or a SecretRef, as text; a missing secret is an AuthError."""
    if not isinstance(value, SecretRef):
        return str(value)
    try:
        return value.resolve().get_secret_value()
    except ConnectorError as exc:
        raise AuthError(str(exc), source=source) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
