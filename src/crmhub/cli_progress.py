"""Terminal rendering for the CLI: a live progress display and the run summary table."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Table


class RichProgress:
    """A `crmhub.progress.Progress` that draws one line per pipeline step."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)

    def start(self, step: str, total: int | None = None) -> None:
        with self._lock:
            if step in self._tasks:
                self._bar.reset(self._tasks[step], total=total)
            else:
                self._tasks[step] = self._bar.add_task(step, total=total, note="")

    def advance(self, step: str, amount: int) -> None:
        with self._lock:
            if step not in self._tasks:
                self._tasks[step] = self._bar.add_task(step, total=None, note="")
            self._bar.advance(self._tasks[step], amount)

    def finish(self, step: str, message: str = "") -> None:
        with self._lock:
            if step not in self._tasks:
                self._tasks[step] = self._bar.add_task(step, total=None, note="")
            task_id = self._tasks[step]
            task = self._bar.tasks[task_id]
            done = task.completed if task.total is None else task.total
            self._bar.update(task_id, total=max(done, 1), completed=max(done, 1), note=message)


def render_summary(console: Console, summary: Any) -> None:
    """Print what a sync did: per source reads and write-backs, then golden-record figures."""
    table = Table(title=f"sync run {summary.run_id}", title_justify="left")
    columns = ("source", "status", "read", "new", "changed", "quarantined", "written", "refused")
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    for source in summary.sources:
        status = "[green]ok[/green]" if source.status == "ok" else f"[red]{source.status}[/red]"
        table.add_row(
            source.name,
            status,
            str(source.read),
            str(source.inserted),
            str(source.updated),
            str(source.quarantined),
            str(source.written),
            str(source.write_rejected),
        )
    console.print(table)
    golden, records = summary.golden, summary.golden.get("records", 0)
    active = golden.get("active", 0)
    console.print(
        f"{records} source records -> [bold]{active}[/bold] golden customers "
        f"({max(records - active, 0)} records matched to another); "
        f"this run created {golden.get('created', 0)}, updated {golden.get('updated', 0)} "
        f"and merged {golden.get('merged', 0)} golden records; "
        f"{summary.pairs.get('review', 0)} pairs wait for review",
        highlight=False,
    )
    quarantined = sum(s.quarantined for s in summary.sources)
    if quarantined and summary.quarantine_samples:
        console.print(f"{quarantined} records quarantined, for example:", highlight=False)
        for line in summary.quarantine_samples:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    elif quarantined:
        console.print(
            f"{quarantined} records rejected again; they are in the quarantine table already",
            highlight=False,
        )
    for source in summary.sources:
        for change in getattr(source, "schema_changes", ()):
            console.print(f"[yellow]{source.name}[/yellow]: schema: {change}", highlight=False)
        if source.error:
            console.print(f"[red]{source.name}[/red]: {source.error}", highlight=False)


def render_customer(
    console: Console, golden: dict[str, Any], members: list[dict[str, Any]]
) -> None:
    """One golden customer and the source records it was built from."""
    fields = ("first_name", "last_name", "email", "phone", "birth_date")
    table = Table(
        title=f"golden customer {golden['golden_id']} and its {len(members)} source records",
        title_justify="left",
    )
    table.add_column("source")
    for name in fields:
        table.add_column(name)
    table.add_row("[bold]golden[/bold]", *[str(golden.get(f) or "") for f in fields])
    for member in members:
        table.add_row(
            f"{member['source']} {member['source_id']}", *[str(member.get(f) or "") for f in fields]
        )
    console.print(table)
