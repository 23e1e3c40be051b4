"""The few Sheets API v4 calls the connector makes, on the shared HTTP client.

Reads: `spreadsheets.get` (tab names and grid sizes, one call) and `values.get` of closed
ranges. Writes: `values.update` for a single range, `values:batchUpdate` for several (a POST
that is idempotent by nature: the same cells get the same values, so it is retried like a
PUT), and `appendDimension` to widen a grid for new header columns, which is NOT repeatable
and is therefore sent once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from crmhub.connectors.google_sheets.config import GoogleSheetsConfig
from crmhub.connectors.http import HttpClient, RateBudget, RetryPolicy
from crmhub.errors import SourceContractError

API = "google_sheets"
"""Rate-budget name: Sheets quotas are per project and user, not per stream."""


@dataclass(frozen=True)
class Grid:
    """A tab as `spreadsheets.get` describes it: its numeric id and grid size."""

    sheet_id: int
    title: str
    rows: int
    columns: int


@dataclass(frozen=True)
class CellWrite:
    """Values for one range (a row segment); None inside `values` leaves a cell as it is."""

    range: str
    values: list[list[Any]]
    row: int | None = None
    """The sheet row it changes; None for the header extension."""


def google_status(response: requests.Response) -> str | None:
    """Google's error status (e.g. ``INVALID_ARGUMENT``); never its message, which echoes input."""
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    return str(status) if status else None


class SheetsApi:
    """One spreadsheet, reached through a client that retries, throttles and redacts."""

    def __init__(
        self, config: GoogleSheetsConfig, *, source: str | None, retry: RetryPolicy | None = None
    ) -> None:
        self.spreadsheet_id = config.spreadsheet_id
        self.http = HttpClient(
            config.base_url,
            api=API,
            auth=config.auth.build(source=source),
            timeout=(10.0, config.timeout),
            retry=retry,
            budget=RateBudget.shared(API, per_minute=config.requests_per_minute),
            source=source,
            vendor_code=google_status,
        )
        self._base = f"v4/spreadsheets/{quote(config.spreadsheet_id, safe='')}"

    def grids(self) -> dict[str, Grid]:
        """Every tab of the spreadsheet by title."""
        body = self.http.get_json(
            self._base,
            params={"fields": "sheets.properties(sheetId,title,gridProperties)"},
        )
        grids: dict[str, Grid] = {}
        for sheet in (body or {}).get("sheets", []):
            props = sheet.get("properties", {})
            size = props.get("gridProperties", {})
            grids[str(props.get("title"))] = Grid(
                int(props.get("sheetId", 0)),
                str(props.get("title")),
                int(size.get("rowCount", 0)),
                int(size.get("columnCount", 0)),
            )
        return grids

    def grid(self, title: str) -> Grid:
        """The tab called `title`; a contract error listing the tabs when there is none."""
        grids = self.grids()
        if title not in grids:
            names = ", ".join(repr(n) for n in grids) or "none"
            raise SourceContractError(
                f"the spreadsheet has no tab {title!r} (tabs: {names})", source=self.http.source
            )
        return grids[title]

    def values(self, a1: str, render: str) -> list[list[Any]]:
        """Cells of a closed range by rows; trailing empty rows and cells are left out."""
        body = self.http.get_json(
            f"{self._base}/values/{quote(a1, safe='')}",
            params={
                "majorDimension": "ROWS",
                "valueRenderOption": render,
                "dateTimeRenderOption": "FORMATTED_STRING",
            },
        )
        values = (body or {}).get("values") or []
        if not isinstance(values, list):
            raise SourceContractError(
                "values.get answered without a list of rows", source=self.http.source
            )
        return values

    def update(self, writes: Sequence[CellWrite]) -> None:
        """Store `writes` as RAW values: one PUT for one range, else one batchUpdate."""
        if not writes:
            return
        if len(writes) == 1:
            only = writes[0]
            self.http.request(
                "PUT",
                f"{self._base}/values/{quote(only.range, safe='')}",
                params={"valueInputOption": "RAW"},
                json={"range": only.range, "majorDimension": "ROWS", "values": only.values},
            )
            return
        self.http.request(
            "POST",
            f"{self._base}/values:batchUpdate",
            json={
                "valueInputOption": "RAW",
                "data": [
                    {"range": w.range, "majorDimension": "ROWS", "values": w.values} for w in writes
                ],
            },
            idempotent=True,
        )

    def append_columns(self, grid: Grid, count: int) -> None:
        """Widen the tab's grid by `count` columns (Sheets refuses writes past the grid)."""
        self.http.request(
            "POST",
            f"{self._base}:batchUpdate",
            json={
                "requests": [
                    {
                        "appendDimension": {
                            "sheetId": grid.sheet_id,
                            "dimension": "COLUMNS",
                            "length": count,
                        }
                    }
                ]
            },
        )

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()
