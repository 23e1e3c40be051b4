"""Catching secrets on their way out: in any log record or in any error a caller would see.

Every logger is opened to DEBUG while a test runs, including loggers that set their own level
or do not propagate (HTTP libraries log URLs and headers only at DEBUG), so a token that only
a debug line would print is caught as well.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 6
"""Shorter secrets would match by chance; a target must use distinctive values."""


class RecordCollector(logging.Handler):
    """Keeps every record it is given, whatever phase of the test it arrives in."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def all_loggers_at_debug(handler: logging.Handler) -> Iterator[None]:
    """Let every logger emit DEBUG records into `handler` for the duration of the block.

    Loggers created inside the block inherit DEBUG from the root and propagate to it.
    """
    manager = logging.root.manager
    loggers = [logging.root] + [
        lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    levels = [(lg, lg.level, lg.disabled) for lg in loggers]
    private = [logging.root] + [lg for lg in loggers[1:] if not lg.propagate]
    disabled = manager.disable
    logging.disable(logging.NOTSET)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    for lg in private:
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg in private:
            lg.removeHandler(handler)
        for lg, level, was_disabled in levels:
            lg.setLevel(level)
            lg.disabled = was_disabled
        logging.disable(disabled)


@dataclass
class LeakWatch:
    """The log records of a test and the texts it showed a caller (errors, check messages).

    `secrets` is asked only when checking, so tokens a fake issued during the test count too.
    """

    secrets: Callable[[], list[str]]
    collector: RecordCollector = field(default_factory=RecordCollector)
    shown: list[tuple[str, str]] = field(default_factory=list)

    def note_error(self, error: BaseException) -> None:
        """Remember an error raised to the caller; its str, repr and causes are checked."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            what = type(current).__name__
            self.shown += [(f"str({what})", str(current)), (f"repr({what})", repr(current))]
            current = current.__cause__ or current.__context__

    def note_text(self, where: str, text: str) -> None:
        """Remember a text shown to the caller, e.g. a CheckResult message."""
        self.shown.append((where, text))

    def watching(self) -> AbstractContextManager[None]:
        """Collect every record of every logger at DEBUG while the block runs."""
        return all_loggers_at_debug(self.collector)

    def leaks(self) -> list[str]:
        """Where a secret appeared (a logger's name or the noted text); empty when clean."""
        secrets = [s for s in self.secrets() if s]
        short = [s for s in secrets if len(s) < MIN_SECRET_LENGTH]
        if short:
            raise AssertionError(
                f"target.secrets() holds {len(short)} value(s) shorter than "
                f"{MIN_SECRET_LENGTH} characters; use distinctive secrets"
            )
        forms = {form for secret in secrets for form in _forms(secret)}
        found = set()
        for place, text in [*self.shown, *_record_texts(self.collector.records)]:
            if any(form in text for form in forms):
                found.add(place)
        return sorted(found)

    def assert_clean(self) -> None:
        """Fail naming each place a secret appeared (never the secret itself)."""
        found = self.leaks()
        if found:
            raise AssertionError("a value of target.secrets() appeared in: " + "; ".join(found))


def _forms(secret: str) -> set[str]:
    """The secret as written and as it would appear inside a URL."""
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def _record_texts(records: Iterable[logging.LogRecord]) -> Iterator[tuple[str, str]]:
    for record in records:
        for text in _texts(record):
            yield f"a log record of {record.name!r}", text


def _texts(record: logging.LogRecord) -> list[str]:
    texts = [str(record.msg), repr(record.args)]
    with suppress(TypeError, ValueError):  # a bad format string is the logger's bug, not a leak
        texts.append(record.getMessage())
    if record.exc_info and record.exc_info[1] is not None:
        texts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        texts.append(record.exc_text)
    if record.stack_info:
        texts.append(record.stack_info)
    return texts
