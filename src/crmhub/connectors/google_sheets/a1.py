"""A1 notation: column letters, quoted sheet names and the ranges the connector asks for.

Every range is built here, so the sheet name is always quoted (a tab called ``2024`` or
``Q1!Leads`` is still only a name) and every range is closed on both ends (the connector
clamps them to the sheet's grid, because Sheets refuses ranges past the grid's edge).
"""

from __future__ import annotations

import re

_COLUMNS = re.compile(r"^([A-Za-z]{1,3}):([A-Za-z]{1,3})$")


def column_index(letters: str) -> int:
    """0-based index of a column: A -> 0, Z -> 25, AA -> 26."""
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def column_letters(index: int) -> str:
    """Letters of a 0-based column index: 0 -> A, 26 -> AA."""
    if index < 0:
        raise ValueError("column index must be >= 0")
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def parse_columns(text: str) -> tuple[int, int]:
    """`"A:ZZ"` -> (0, 701): the first and last 0-based column of a column span."""
    match = _COLUMNS.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a column span such as 'A:Z' or 'B:AZ'")
    first, last = column_index(match.group(1)), column_index(match.group(2))
    if last < first:
        raise ValueError(f"{text!r} ends before it starts")
    return first, last


def quote_sheet(title: str) -> str:
    """The sheet name as A1 notation needs it: in single quotes, quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


def block(title: str, first_col: int, first_row: int, last_col: int, last_row: int) -> str:
    """A closed range, e.g. ``'Customers'!A2:Z5001`` (columns 0-based, rows 1-based)."""
    start = f"{column_letters(first_col)}{first_row}"
    end = f"{column_letters(last_col)}{last_row}"
    return f"{quote_sheet(title)}!{start}:{end}"


def cell(title: str, col: int, row: int) -> str:
    """One cell, e.g. ``'Customers'!AA7``."""
    return f"{quote_sheet(title)}!{column_letters(col)}{row}"
