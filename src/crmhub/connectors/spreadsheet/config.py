"""Config of the `spreadsheet` connector: one CSV file, or one sheet of an XLSX/ODS workbook.

Everything that can be guessed from the file (format, encoding, delimiter, sheet) is optional,
so the usual block is just `path` and `key`; setting a value turns the guess off.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from crmhub.connectors.base import ConnectorConfig, KeyColumns

FileFormat = Literal["csv", "xlsx", "ods"]

SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".ods": "ods",
}
"""File suffixes whose format is taken for granted when `format` is not set."""


class SpreadsheetConfig(ConnectorConfig):
    """Where the file is, how to parse it, and which columns are the key and the cursor.

    `header_row` is the 1-based line (CSV) or row (XLSX/ODS) holding the column names; rows
    above it are ignored. Without a `cursor` the whole file is re-read whenever its content
    changes, and not at all when it does not.
    """

    type: Literal["spreadsheet"]
    path: Path
    format: FileFormat | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    key: KeyColumns
    cursor: str | None = None
    chunk_size: int = Field(50_000, ge=1)
    header_row: int = Field(1, ge=1)

    @field_validator("path", mode="after")
    @classmethod
    def _anchor_path(cls, value: Path, info: ValidationInfo) -> Path:
        """Make a relative path relative to the config file, not to the working directory."""
        base = (info.context or {}).get("base_dir")
        if base and not value.is_absolute():
            return Path(base) / value
        return value

    @field_validator("encoding", mode="after")
    @classmethod
    def _check_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, cp1252)") from None
        return value

    @field_validator("delimiter", mode="after")
    @classmethod
    def _check_delimiter(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in "\r\n\"'"):
            raise ValueError("delimiter must be one character such as ',', ';', '|' or a tab")
        return value

    @model_validator(mode="after")
    def _check_format_options(self) -> SpreadsheetConfig:
        """Fail early on a suffix we cannot read and on options of the other format."""
        if self.format is None and self.path.suffix.lower() not in SUFFIX_FORMATS:
            raise ValueError(
                f"cannot tell the format of {self.path.name!r} from its suffix; "
                "set 'format: csv', 'format: xlsx' or 'format: ods'"
            )
        if self.file_format == "csv" and self.sheet is not None:
            raise ValueError("'sheet' applies to xlsx and ods files, not to csv")
        if self.file_format != "csv" and (self.encoding or self.delimiter):
            raise ValueError("'encoding' and 'delimiter' apply to csv files only")
        return self

    @property
    def file_format(self) -> FileFormat:
        """The format to parse: `format` when set, else the one the suffix implies."""
        return self.format or SUFFIX_FORMATS[self.path.suffix.lower()]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The key as a tuple, whether the config gave one column or several."""
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)
