"""The one exception tree of crmhub.

The base class says what the caller should do (fix the config, stop a connector, quarantine a
record), so flows catch these classes and never vendor or driver exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass


class CrmhubError(Exception):
    """Base of every error crmhub raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a config file: where it is, what it is, and how to fix it."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(CrmhubError):
    """The config must be fixed; carries every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConnectorError(CrmhubError):
    """A connector could not do its work; `source` names the hub source when known."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class RetryableError(ConnectorError):
    """A passing fault (429, 5xx, timeout, lost connection): retry with backoff."""


class RetriesExhaustedError(ConnectorError):
    """A retryable fault that outlived every retry."""


class AuthError(ConnectorError):
    """Credentials were refused: stop this connector, the others go on."""


class SourceUnavailableError(ConnectorError):
    """The source cannot be reached at all (missing file, host down, unknown database)."""


class SourceContractError(ConnectorError):
    """The source broke its schema or paging contract: stop this stream, keep the old state."""


class GoldenDatabaseError(CrmhubError):
    """The golden-record database cannot be reached or migrated: nothing can run until it can."""


class RecordError(CrmhubError):
    """One record cannot be used: quarantine it with this reason, the run continues."""


class CapabilityError(CrmhubError):
    """Asked a connector for something it does not declare."""

    def __init__(self, kind: str, capability: str) -> None:
        self.kind = kind
        self.capability = capability
        super().__init__(f"connector kind {kind!r} does not support {capability!r}")


class RegistryError(CrmhubError):
    """A connector plug-in is broken: names the class and its distribution."""
