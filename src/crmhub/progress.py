"""Progress reporting that the pipeline calls and the CLI renders.

The pipeline only says what it is doing (`start`, `advance`, `finish`); whether that becomes a
rich progress bar, log lines or nothing is the caller's choice, so library code never prints.
"""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger("crmhub")


class Progress(Protocol):
    """Receiver of progress events; `total` is None when unknown."""

    def start(self, step: str, total: int | None = None) -> None: ...

    def advance(self, step: str, amount: int) -> None: ...

    def finish(self, step: str, message: str = "") -> None: ...


class LogProgress:
    """Default receiver: one log line when a step finishes."""

    def start(self, step: str, total: int | None = None) -> None:
        logger.debug("%s: started", step)

    def advance(self, step: str, amount: int) -> None:
        """Nothing to do per chunk; logs stay short."""

    def finish(self, step: str, message: str = "") -> None:
        logger.info("%s: %s", step, message or "done")


_current: Progress = LogProgress()


def use_progress(progress: Progress | None) -> None:
    """Route progress events of this process to `progress` (None restores log lines)."""
    global _current
    _current = progress or LogProgress()


def current_progress() -> Progress:
    """The receiver that pipeline steps report to."""
    return _current
