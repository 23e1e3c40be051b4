"""The `google_sheets` connector: one tab of a Google spreadsheet as one keyed stream.

Sheets has no change feed the values API can see, and tabs are not sorted, so every read
scans the tab in row windows. Incremental reads then either filter on a cursor column (an
"Updated" column people or a script maintain) or, without one, return only the windows whose
content changed since the last read: an unchanged tab costs its read calls and yields nothing.
Write-back updates existing rows by key, cell by cell, and never sends a cell that is equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from crmhub.connectors.base import (
    Batch,
    Capability,
    CheckResult,
    Connector,
    ConnectorConfig,
    RejectedRecord,
    RowResult,
    RowStatus,
    StreamSpec,
    StreamState,
    Upsert,
    WriteReport,
)
from crmhub.connectors.google_sheets.a1 import block, column_letters
from crmhub.connectors.google_sheets.api import CellWrite, Grid, SheetsApi
from crmhub.connectors.google_sheets.config import GoogleSheetsConfig
from crmhub.connectors.google_sheets.rows import (
    Header,
    RowReader,
    Window,
    keys_at,
    read_header,
    window_hash,
    windows,
)
from crmhub.connectors.google_sheets.writeback import SheetRow, WritePlan
from crmhub.connectors.http import HttpStatusError
from crmhub.connectors.spreadsheet.state import CursorWindow
from crmhub.errors import ConnectorError, SourceContractError

MAX_RANGES_PER_CALL = 500
"""Ranges per values:batchUpdate; keeps a request well under Google's advised 2 MB."""

ROW_MOVED = "row moved; retried next run"
"""Why an upsert is refused when its key left the row the plan found it in."""


class GoogleSheetsConnector(Connector):
    """A Google Sheets tab as a stream named after the tab; records map header -> cell text.

    Stream state without a cursor: ``{"windows": {"<first row>": digest}}``. With a cursor:
    ``{"cursor", "boundary", "top"}`` (see `CursorWindow`), plus ``rows_done``, ``anchor``
    and ``next`` while a read is under way (see `_read_by_cursor`).
    """

    kind: ClassVar[str] = "google_sheets"
    config_model: ClassVar[type[ConnectorConfig]] = GoogleSheetsConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.INCREMENTAL,
            Capability.WRITE,
            Capability.AUTH,
            Capability.RETRY,
        }
    )
    default_mapping: ClassVar[dict[str, str | list[str]]] = {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "phone": "Phone",
        "street": "Street",
        "city": "City",
        "postal_code": "Postal Code",
        "country": "Country",
        "company": "Company",
    }
    """The headers of crmhub's customer sheet template; any other sheet names its own."""

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        if not isinstance(config, GoogleSheetsConfig):
            raise TypeError(f"expected a GoogleSheetsConfig, got {type(config).__name__}")
        super().__init__(config, name=name)
        self.settings = config
        self._api: SheetsApi | None = None

    @property
    def api(self) -> SheetsApi:
        """The API client, built on first use (credentials are resolved then)."""
        if self._api is None:
            self._api = SheetsApi(self.settings, source=self.name)
        return self._api

    # -- contract -------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """The credentials work, the tab exists and its header has the key (and cursor)."""
        try:
            grid, header = self._open()
        except ConnectorError as exc:
            return CheckResult(ok=False, message=_one_line(str(exc)))
        return CheckResult(
            ok=True,
            message=f"tab {grid.title!r}: {len(header.names)} columns, grid of {grid.rows} rows",
        )

    def discover(self) -> list[StreamSpec]:
        """The one stream: the tab, its key, cursor and header columns."""
        _, header = self._open()
        cfg = self.settings
        return [StreamSpec(cfg.sheet, cfg.key_columns, cfg.cursor, header.names)]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Batches of new or changed rows from `state` on (everything when None)."""
        self._check_stream(stream)
        grid, header = self._open()
        if self.settings.cursor:
            yield from self._read_by_cursor(grid, header, state or {})
        else:
            yield from self._read_by_digest(grid, header, state or {})

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Update rows matched by key; add missing columns; send only cells that change."""
        self._check_stream(stream)
        if self.settings.is_read_only:
            reason = "an API key can only read; give OAuth2 credentials to write back"
            return WriteReport(
                [
                    RowResult(r.external_id, r.idempotency_key, RowStatus.REJECTED, reason)
                    for r in rows
                ]
            )
        grid, header = self._open()
        plan = WritePlan(
            header,
            self.settings.column_span[1],
            self.settings.add_missing_columns,
            f"tab {grid.title!r}",
        )
        wanted = dict.fromkeys(name for row in rows for name in row.fields)
        missing = [name for name in wanted if name not in header.names]
        found, occupied = self._rows_by_key(grid, header, set(wanted), len(missing))
        if occupied:
            plan.add_refusal = (
                f"column {occupied} has values but no header; give it a header or clear it"
            )
        report = plan.decide(rows, found)
        moved = self._moved_keys(header, plan, found)
        if moved:
            report = plan.withdraw(rows, report, moved, ROW_MOVED)
        writes = plan.writes(grid.title, self.settings.header_row)
        if not writes:
            return report
        widest = header.end + len(plan.new_columns)
        if plan.new_columns and widest > grid.columns:
            self.api.append_columns(grid, widest - grid.columns)
        return self._send(writes, plan, report)

    def close(self) -> None:
        """Close the HTTP client."""
        if self._api is not None:
            self._api.close()
            self._api = None

    # -- reading --------------------------------------------------------------------------
    def _open(self) -> tuple[Grid, Header]:
        """The tab's grid and header; errors name this source."""
        grid = self.api.grid(self.settings.sheet)
        try:
            return grid, read_header(self.api, grid, self.settings)
        except SourceContractError as exc:
            if exc.source is None and type(exc) is SourceContractError:
                raise SourceContractError(str(exc), source=self.name) from None
            raise

    def _check_stream(self, stream: str) -> None:
        if stream != self.settings.sheet:
            raise SourceContractError(
                f"no stream {stream!r}: this source reads tab {self.settings.sheet!r}",
                source=self.name,
            )

    def _read_by_digest(self, grid: Grid, header: Header, state: StreamState) -> Iterator[Batch]:
        """Only windows whose digest differs from the state's are returned as records.

        Each batch's state holds the new digests of the windows read so far and the old ones
        of the rest, so a read resumed after a crash skips what was already committed.
        """
        old: dict[str, str] = dict(state.get("windows") or {})
        digests = dict(old)
        present: list[str] = []
        is_done = False
        reader = RowReader(self.settings, header)
        start = self.settings.header_row + 1
        for window in windows(self.api, grid, self.settings, header, start):
            part = self._parse(reader, window, skip=0)
            label = str(window.start)
            digest = window_hash(header, window, part.bad_rows) if window.rows else None
            if digest is None:  # empty windows are not kept: a big grid stays a small state
                digests.pop(label, None)
            else:
                digests[label] = digest
                present.append(label)
            is_last = window.end >= grid.rows
            if is_last:
                digests = {k: digests[k] for k in present}
            if old.get(label) != digest and (part.records or part.rejected):
                yield part.batch({"windows": dict(digests)})
            elif is_last and digests != old:
                yield Batch([], {"windows": dict(digests)})
            is_done = is_last
        if not is_done and old:  # a grid with no rows below the header
            yield Batch([], {"windows": {}})

    def _read_by_cursor(self, grid: Grid, header: Header, state: StreamState) -> Iterator[Batch]:
        """Rows with cursor >= the last one (minus rows read unchanged), from every window.

        The tab is live while it is read: a row above the scan point can change after its
        window was read, while a row below gets a newer cursor before its window is. So the
        next cursor is not the highest value read but the highest one that existed before
        this read began (the previous read's ``top``, or the first window's highest value):
        every edit the scan missed is at or above it. The rows between it and ``top`` are
        kept in the boundary with their digests, so the next read returns only the changed.

        While a read is under way each batch's state also says ``rows_done`` (last sheet row
        handled) and ``anchor`` (row number and key of the last record up to it). A resumed
        read trusts `rows_done` only while the anchor row still holds that key; if rows were
        inserted or deleted above it meanwhile, it reads from the top with the old filter.
        """
        anchor = state.get("anchor")
        is_resuming = "rows_done" in state and self._anchor_holds(grid, header, anchor)
        skip = int(state["rows_done"]) if is_resuming else 0
        cursor = CursorWindow(state, is_resuming)
        if is_resuming and not cursor.is_held:  # a state saved mid-read by an older version
            cursor.hold(())
        reader = RowReader(self.settings, header)
        start = self.settings.header_row + 1
        for window in windows(self.api, grid, self.settings, header, start):
            part = self._parse(reader, window, skip, cursor)
            if window.end >= grid.rows:
                yield part.batch(cursor.finished_state())
            elif part.records or part.rejected:
                place = list(reader.last) if reader.last else (anchor if is_resuming else None)
                running = {**cursor.running_state(), "rows_done": window.end, "anchor": place}
                yield part.batch(running)

    def _anchor_holds(self, grid: Grid, header: Header, anchor: Any) -> bool:
        """Whether the anchor row still holds the anchor key (True without an anchor)."""
        if not anchor:
            return True
        number, key = int(anchor[0]), str(anchor[1])
        if number > grid.rows:
            return False
        first = self.settings.column_span[0]
        cells = self.api.values(
            block(grid.title, first, number, header.end - 1, number), self.settings.value_render
        )
        record, found = RowReader(self.settings, header).parse(number, cells[0] if cells else [])
        return record is not None and found == key

    def _parse(
        self, reader: RowReader, window: Window, skip: int, cursor: CursorWindow | None = None
    ) -> _Part:
        """Records, their positions and rejected rows of one window; rows <= `skip` are done."""
        part = _Part()
        found: list[tuple[int, dict[str, Any], str]] = []
        for offset, cells in enumerate(window.rows):
            number = window.start + offset
            record, key = reader.parse(number, cells)
            if number <= skip:
                continue
            if record is None:
                if key:
                    part.rejected.append(reader.reject(number, cells, key))
                    part.bad_rows.append(number)
                continue
            found.append((number, record, key))
        name = self.settings.cursor
        if cursor is not None and name and not cursor.is_held:  # the first window of a scan
            cursor.hold(record[name] for _, record, _ in found)
        for number, record, key in found:
            content: Callable[[], Sequence[Any]] = partial(list, record.values())
            if cursor is not None and name and not cursor.admit(record[name], key, content):
                continue
            part.records.append(record)
            part.positions.append(f"row {number}")
        return part

    # -- writing --------------------------------------------------------------------------
    def _rows_by_key(
        self, grid: Grid, header: Header, wanted: set[str], extra: int
    ) -> tuple[dict[str, SheetRow], str]:
        """Keyed rows with the current text of the `wanted` columns, and an occupied column.

        The second value names the first of the `extra` columns after the header that holds
        a value in some row ("" when all are empty): a new column must not be put there.
        """
        reader = RowReader(self.settings, header)
        names = [n for n in header.names if n in wanted]
        found: dict[str, SheetRow] = {}
        occupied = ""
        start = self.settings.header_row + 1
        width = header.end - self.settings.column_span[0]
        for window in windows(self.api, grid, self.settings, header, start, extra):
            for offset, cells in enumerate(window.rows):
                record, key = reader.parse(window.start + offset, cells)
                if record is not None:
                    found[key] = SheetRow(window.start + offset, {n: record[n] for n in names})
                spill = [i for i, v in enumerate(cells[width:]) if v not in (None, "")]
                if spill and not occupied:
                    occupied = column_letters(header.end + spill[0])
        return found, occupied

    def _moved_keys(self, header: Header, plan: WritePlan, found: dict[str, SheetRow]) -> set[str]:
        """Keys no longer at the row the plan will write, read again just before sending.

        Rows sorted, inserted or deleted since the scan would otherwise take another row's
        values. The grid is fetched again too: deleting rows shrinks it.
        """
        targets = {n for n in plan.targets if n is not None}
        if not targets:
            return set()
        grid = self.api.grid(self.settings.sheet)
        now = keys_at(self.api, grid, self.settings, header, sorted(targets))
        return {k for k, row in found.items() if row.number in now and now[row.number] != k}

    def _send(self, writes: list[CellWrite], plan: WritePlan, report: WriteReport) -> WriteReport:
        """Send the ranges in calls of MAX_RANGES_PER_CALL; a refused call rejects its rows.

        A call is applied atomically by Sheets, so the rows of a refused call are all
        unchanged. The header extension goes in the first call: if that call is refused, no
        later call is sent (their rows would fill a column without a header), and every row
        not sent is rejected too.
        """
        results = list(report.rows)
        for first in range(0, len(writes), MAX_RANGES_PER_CALL):
            chunk = writes[first : first + MAX_RANGES_PER_CALL]
            try:
                self.api.update(chunk)
            except HttpStatusError as exc:
                detail = _one_line(str(exc))
                refused = {w.row for w in chunk}
                is_header = None in refused
                _reject(results, plan, refused, f"Sheets refused the update: {detail}", is_header)
                if is_header:  # the header extension: send nothing more
                    unsent = {w.row for w in writes[first + MAX_RANGES_PER_CALL :]}
                    reason = f"not sent: Sheets refused the update adding columns: {detail}"
                    _reject(results, plan, unsent, reason)
                    break
        return WriteReport(results)


@dataclass
class _Part:
    """What one window gave: records with positions, rejected rows and their numbers."""

    records: list[dict[str, Any]] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    bad_rows: list[int] = field(default_factory=list)

    def batch(self, state: StreamState) -> Batch:
        return Batch(self.records, state, self.rejected, self.positions)


def _reject(
    results: list[RowResult],
    plan: WritePlan,
    numbers: set[int | None],
    reason: str,
    is_new_column_refused: bool = False,
) -> None:
    """Mark applied upserts of sheet rows `numbers` (and of new columns, if so) rejected."""
    for index, number in enumerate(plan.targets):
        if results[index].status is RowStatus.APPLIED and (
            number in numbers or (is_new_column_refused and plan.needs_new[index])
        ):
            row = results[index]
            results[index] = RowResult(
                row.external_id, row.idempotency_key, RowStatus.REJECTED, reason
            )


def _one_line(text: str) -> str:
    return " ".join(text.split())
