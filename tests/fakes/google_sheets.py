"""A stateful fake of the Google Sheets API v4 (values and grid metadata) on FakeServer.

State is a dict of spreadsheets, each a dict of tabs holding a 2-D list of cells (Python str,
int, float, bool or None) and a grid size, as in Sheets: ranges past the grid are refused
with Google's "exceeds grid limits" 400, and a write never grows the grid (append columns
with `spreadsheets:batchUpdate` `appendDimension` first). Answers follow Google's shapes:
trailing empty rows and cells are left out, `FORMATTED_VALUE` renders numbers and booleans
as text, RAW input stores values as given and skips nulls.

Auth: a request needs ``Authorization: Bearer <token>`` with a token in `tokens`, or
``key=<api key>`` for reads (writes with an API key are 401, as Google answers). `/token`
is an OAuth2 token endpoint for the refresh-token grant. `quota()` turns on a per-window
read limit answering 429 with Retry-After, like the Sheets "reads per minute" quota.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.server import FakeServer, Request, Response

_RANGE = re.compile(r"^(?:(?P<sheet>'(?:[^']|'')+'|[^!]+)!)?(?P<cells>[A-Za-z0-9:]*)$")
_REF = re.compile(r"^(?P<col>[A-Za-z]*)(?P<row>\d*)$")


@dataclass
class FakeTab:
    """One sheet: its cells (row-major, ragged) and the size of its grid."""

    title: str
    sheet_id: int
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 1000
    column_count: int = 26
    formatted: dict[tuple[int, int], str] = field(default_factory=dict)
    """(row, col) 0-based -> text FORMATTED_VALUE shows instead of the plain rendering."""

    def cell(self, row: int, col: int) -> Any:
        """The value at 0-based (row, col), None when empty or outside the data."""
        if row < len(self.rows) and col < len(self.rows[row]):
            return self.rows[row][col]
        return None

    def put(self, row: int, col: int, value: Any) -> None:
        """Store a value at 0-based (row, col), growing the ragged lists as needed."""
        while len(self.rows) <= row:
            self.rows.append([])
        line = self.rows[row]
        while len(line) <= col:
            line.append(None)
        line[col] = None if value == "" else value
        self.formatted.pop((row, col), None)


class SheetsError(Exception):
    """A Google-shaped error answer raised inside a handler."""

    def __init__(self, code: int, message: str, status: str) -> None:
        super().__init__(message)
        self.response = Response(
            code, {"error": {"code": code, "message": message, "status": status}}
        )


def col_index(letters: str) -> int:
    """0-based column of A1 letters (the fake's own copy: tests must not share the code)."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index - 1


def col_letters(index: int) -> str:
    """A1 letters of a 0-based column."""
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True)
class Box:
    """A parsed range on one tab: 0-based inclusive rows/cols (None = open end)."""

    tab: FakeTab
    row0: int
    col0: int
    row1: int | None
    col1: int | None

    def label(self) -> str:
        """The range as Google echoes it, clamped to the grid."""
        row1 = self.tab.row_count - 1 if self.row1 is None else self.row1
        col1 = self.tab.column_count - 1 if self.col1 is None else self.col1
        quoted = "'" + self.tab.title.replace("'", "''") + "'"
        return f"{quoted}!{col_letters(self.col0)}{self.row0 + 1}:{col_letters(col1)}{row1 + 1}"


class FakeSheets:
    """Spreadsheets by id, each a dict of tabs by title; see the module docstring."""

    def __init__(self) -> None:
        self.server = FakeServer()
        self.spreadsheets: dict[str, dict[str, FakeTab]] = {}
        self.tokens: set[str] = {"sheets-access-token"}
        self.api_keys: set[str] = {"sheets-api-key"}
        self.refresh_tokens: dict[str, str] = {"sheets-refresh-token": "sheets-access-token"}
        self.client_secret = "sheets-client-secret"
        self._lock = threading.RLock()
        self._quota: tuple[int, float] | None = None
        self._reads: deque[float] = deque()
        self._register()

    # -- state helpers for tests --------------------------------------------------------
    def reset(self) -> None:
        """Forget every spreadsheet, fault, logged request, quota and credential change."""
        with self._lock:
            self.spreadsheets.clear()
            self.tokens = {"sheets-access-token"}
            self.api_keys = {"sheets-api-key"}
            self.refresh_tokens = {"sheets-refresh-token": "sheets-access-token"}
            self.client_secret = "sheets-client-secret"
            self._quota = None
            self._reads.clear()
        self.server.clear_faults()
        self.server.requests.clear()

    def add_tab(
        self,
        spreadsheet_id: str,
        title: str,
        rows: list[list[Any]],
        *,
        row_count: int | None = None,
        column_count: int | None = None,
    ) -> FakeTab:
        """Create (or replace) a tab; the grid defaults to 1000 x 26 or the data's size."""
        with self._lock:
            book = self.spreadsheets.setdefault(spreadsheet_id, {})
            width = max((len(r) for r in rows), default=0)
            old = book.get(title)
            tab = FakeTab(
                title,
                old.sheet_id if old else len(book) * 1000 + 1,
                [list(r) for r in rows],
                row_count or max(1000, len(rows)),
                column_count or max(26, width),
            )
            book[title] = tab
            return tab

    def tab(self, spreadsheet_id: str, title: str) -> FakeTab:
        """A tab to inspect or change in place."""
        return self.spreadsheets[spreadsheet_id][title]

    def values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """The tab's cells with trailing empties dropped, as a test wants to compare them."""
        return [_trim(list(r)) for r in self.tab(spreadsheet_id, title).rows]

    def quota(self, reads: int, window: float = 60.0) -> None:
        """Answer 429 (with Retry-After) once more than `reads` reads arrive in `window` s."""
        with self._lock:
            self._quota = (reads, window)
            self._reads.clear()

    # -- routes ---------------------------------------------------------------------------
    def _register(self) -> None:
        route = self.server.route
        route("POST", "/token")(self._token)
        route("POST", "/v4/spreadsheets/{sid}/values:batchUpdate")(self._guard(self._batch_update))
        route("GET", "/v4/spreadsheets/{sid}/values/{rng}")(self._guard(self._get_values))
        route("PUT", "/v4/spreadsheets/{sid}/values/{rng}")(self._guard(self._put_values))
        route("POST", "/v4/spreadsheets/{sid}:batchUpdate")(self._guard(self._structure))
        route("GET", "/v4/spreadsheets/{sid}")(self._guard(self._metadata))

    def _guard(self, handler: Any) -> Any:
        def run(request: Request, params: dict[str, str]) -> Response:
            try:
                self._authorise(request)
                if request.method == "GET":
                    self._count_read()
                with self._lock:
                    return handler(request, params)  # type: ignore[no-any-return]
            except SheetsError as exc:
                return exc.response

        return run

    def _authorise(self, request: Request) -> None:
        auth = request.header("authorization") or ""
        if auth.startswith("Bearer ") and auth[7:] in self.tokens:
            return
        key = request.param("key")
        if key is not None and key in self.api_keys and not auth:
            if request.method != "GET":
                raise SheetsError(
                    401,
                    "API keys are not supported by this API. Expected OAuth2 access token or "
                    "other authentication credentials that assert a principal.",
                    "UNAUTHENTICATED",
                )
            return
        raise SheetsError(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        )

    def _count_read(self) -> None:
        with self._lock:
            if self._quota is None:
                return
            limit, window = self._quota
            now = time.monotonic()
            while self._reads and self._reads[0] <= now - window:
                self._reads.popleft()
            if len(self._reads) >= limit:
                wait = max(1, int(self._reads[0] + window - now + 0.999))
                error = SheetsError(
                    429,
                    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests "
                    "per minute per user' of service 'sheets.googleapis.com'.",
                    "RESOURCE_EXHAUSTED",
                )
                error.response.headers["Retry-After"] = str(wait)
                raise error
            self._reads.append(now)

    def _token(self, request: Request, params: dict[str, str]) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        secret = form.get("client_secret")
        basic = request.header("authorization") or ""
        if secret is None and basic.startswith("Basic "):  # client_secret_basic
            secret = base64.b64decode(basic[6:]).decode().partition(":")[2]
        access = self.refresh_tokens.get(str(form.get("refresh_token")))
        if form.get("grant_type") != "refresh_token" or access is None:
            return Response(400, {"error": "invalid_grant"})
        if secret != self.client_secret:
            return Response(401, {"error": "invalid_client"})
        return Response(200, {"access_token": access, "token_type": "Bearer", "expires_in": 3599})

    def _book(self, sid: str) -> dict[str, FakeTab]:
        book = self.spreadsheets.get(sid)
        if book is None:
            raise SheetsError(404, "Requested entity was not found.", "NOT_FOUND")
        return book

    def _metadata(self, request: Request, params: dict[str, str]) -> Response:
        sid = params["sid"]
        sheets = [
            {
                "properties": {
                    "sheetId": tab.sheet_id,
                    "title": tab.title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {
                        "rowCount": tab.row_count,
                        "columnCount": tab.column_count,
                    },
                }
            }
            for index, tab in enumerate(self._book(sid).values())
        ]
        return Response(200, {"spreadsheetId": sid, "properties": {"title": sid}, "sheets": sheets})

    def _box(self, sid: str, text: str) -> Box:
        """Parse A1 notation: `Tab`, `Tab!A1:Z`, `'My Tab'!A2:Z501`, `Tab!A:ZZ`, `Tab!D5`."""
        book = self._book(sid)
        match = _RANGE.match(text)
        name = match and match.group("sheet")
        if not match or not name:
            raise SheetsError(400, f"Unable to parse range: {text}", "INVALID_ARGUMENT")
        if name.startswith("'"):
            name = name[1:-1].replace("''", "'")
        tab = book.get(name)
        if tab is None:
            raise SheetsError(400, f"Unable to parse range: {text}", "INVALID_ARGUMENT")
        cells = match.group("cells")
        if not cells:
            return Box(tab, 0, 0, None, None)
        start, _, end = cells.partition(":")
        a, b = _REF.match(start), _REF.match(end or start)
        if a is None or b is None or not (a.group("col") or a.group("row")):
            raise SheetsError(400, f"Unable to parse range: {text}", "INVALID_ARGUMENT")
        box = Box(
            tab,
            int(a.group("row")) - 1 if a.group("row") else 0,
            col_index(a.group("col")) if a.group("col") else 0,
            int(b.group("row")) - 1 if b.group("row") else None,
            col_index(b.group("col")) if b.group("col") else None,
        )
        if (
            box.row0 >= tab.row_count
            or box.col0 >= tab.column_count
            or (
                (box.row1 is not None and box.row1 >= tab.row_count)
                or (box.col1 is not None and box.col1 >= tab.column_count)
            )
        ):
            raise SheetsError(
                400,
                f"Range ({text}) exceeds grid limits. Max rows: {tab.row_count}, "
                f"max columns: {tab.column_count}",
                "INVALID_ARGUMENT",
            )
        return box

    def _get_values(self, request: Request, params: dict[str, str]) -> Response:
        box = self._box(params["sid"], unquote(params["rng"]))
        if request.param("majorDimension", "ROWS") not in ("ROWS", "DIMENSION_UNSPECIFIED"):
            raise SheetsError(400, "the fake serves majorDimension=ROWS only", "INVALID_ARGUMENT")
        formatted = request.param("valueRenderOption", "FORMATTED_VALUE") == "FORMATTED_VALUE"
        tab = box.tab
        row1 = tab.row_count - 1 if box.row1 is None else box.row1
        col1 = tab.column_count - 1 if box.col1 is None else box.col1
        out = []
        for r in range(box.row0, min(row1, len(tab.rows) - 1) + 1):
            line = [self._render(tab, r, c, formatted) for c in range(box.col0, col1 + 1)]
            out.append(_trim(line))
        while out and not out[-1]:
            out.pop()
        body: dict[str, Any] = {"range": box.label(), "majorDimension": "ROWS"}
        if out:
            body["values"] = out
        return Response(200, body)

    @staticmethod
    def _render(tab: FakeTab, row: int, col: int, formatted: bool) -> Any:
        value = tab.cell(row, col)
        if value is None or not formatted:
            return "" if value is None else value
        if (row, col) in tab.formatted:
            return tab.formatted[(row, col)]
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def _put_values(self, request: Request, params: dict[str, str]) -> Response:
        self._input_option(request.param("valueInputOption"))
        body = request.body if isinstance(request.body, dict) else {}
        rng = unquote(params["rng"])
        if body.get("range") not in (None, rng):
            raise SheetsError(
                400,
                f"Requested writing within range [{rng}], but tried writing to [{body['range']}]",
                "INVALID_ARGUMENT",
            )
        result = self._write(params["sid"], rng, body)
        return Response(200, result)

    def _batch_update(self, request: Request, params: dict[str, str]) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        self._input_option(body.get("valueInputOption"))
        data = body.get("data") or []
        for item in data:  # validate all first: Sheets applies a batch atomically
            self._check_write(params["sid"], item.get("range", ""), item)
        responses = [self._write(params["sid"], item["range"], item) for item in data]
        return Response(
            200,
            {
                "spreadsheetId": params["sid"],
                "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                "totalUpdatedColumns": max(
                    (r.get("updatedColumns", 0) for r in responses), default=0
                ),
                "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                "totalUpdatedSheets": 1 if responses else 0,
                "responses": responses,
            },
        )

    @staticmethod
    def _input_option(option: str | None) -> None:
        if option not in ("RAW", "USER_ENTERED"):
            raise SheetsError(
                400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED", "INVALID_ARGUMENT"
            )

    def _check_write(self, sid: str, rng: str, body: dict[str, Any]) -> Box:
        box = self._box(sid, rng)
        values = body.get("values") or []
        rows = len(values)
        cols = max((len(v) for v in values), default=0)
        too_low = box.row1 is not None and box.row0 + rows - 1 > box.row1
        too_wide = box.col1 is not None and box.col0 + cols - 1 > box.col1
        if too_low or too_wide:
            raise SheetsError(
                400,
                f"Requested writing within range [{rng}], but tried writing beyond it",
                "INVALID_ARGUMENT",
            )
        if box.row0 + rows > box.tab.row_count or box.col0 + cols > box.tab.column_count:
            raise SheetsError(400, f"Range ({rng}) exceeds grid limits.", "INVALID_ARGUMENT")
        for line in values:
            for value in line:
                if value is not None and not isinstance(value, str | int | float | bool):
                    raise SheetsError(400, "Invalid value at 'data.values'", "INVALID_ARGUMENT")
        return box

    def _write(self, sid: str, rng: str, body: dict[str, Any]) -> dict[str, Any]:
        box = self._check_write(sid, rng, body)
        cells = 0
        rows: set[int] = set()
        cols: set[int] = set()
        for r, line in enumerate(body.get("values") or []):
            for c, value in enumerate(line):
                if value is None:  # RAW input skips nulls
                    continue
                box.tab.put(box.row0 + r, box.col0 + c, value)
                cells, rows, cols = cells + 1, rows | {r}, cols | {c}
        return {
            "spreadsheetId": sid,
            "updatedRange": box.label(),
            "updatedRows": len(rows),
            "updatedColumns": len(cols),
            "updatedCells": cells,
        }

    def _structure(self, request: Request, params: dict[str, str]) -> Response:
        book = self._book(params["sid"])
        by_id = {tab.sheet_id: tab for tab in book.values()}
        replies: list[dict[str, Any]] = []
        for item in (request.body or {}).get("requests", []):
            grow = item.get("appendDimension")
            if grow is None or grow.get("sheetId") not in by_id:
                raise SheetsError(400, "the fake supports appendDimension only", "INVALID_ARGUMENT")
            tab = by_id[grow["sheetId"]]
            if grow.get("dimension") == "COLUMNS":
                tab.column_count += int(grow["length"])
            else:
                tab.row_count += int(grow["length"])
            replies.append({})
        return Response(200, {"spreadsheetId": params["sid"], "replies": replies})


def _trim(line: list[Any]) -> list[Any]:
    while line and line[-1] in (None, ""):
        line.pop()
    return line


_SHARED: dict[str, Any] = {}


def shared_sheets() -> tuple[FakeSheets, str]:
    """One fake and one Prism proxy in front of it for the whole test session.

    Prism takes seconds to start, so tests share this pair and `reset()` the fake instead;
    both stop when the interpreter exits. Returns the fake and the proxy's base URL.
    """
    if "fake" not in _SHARED:
        from tests.fakes.prism import VENDOR_SPECS, prism_proxy

        fake = FakeSheets()
        stack = contextlib.ExitStack()
        try:
            upstream = stack.enter_context(fake.server.running())
            spec = VENDOR_SPECS / "google-sheets" / "sheets.v4.swagger2.json"
            url = stack.enter_context(prism_proxy(spec, upstream))
        except BaseException:
            stack.close()
            raise
        atexit.register(stack.close)
        _SHARED.update(fake=fake, url=url)
    return _SHARED["fake"], _SHARED["url"]
