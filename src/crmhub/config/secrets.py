"""Secrets by reference: `{env: NAME}` or `{file: path}`, resolved only when used.

The config never holds a secret's value, so printing, logging or storing a config cannot leak
one; `resolve()` returns a pydantic `SecretStr` whose repr is masked as well.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo, model_validator

from crmhub.errors import ConnectorError


class SecretRef(BaseModel):
    """Where a secret lives: exactly one of an environment variable or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _anchor_file(cls, data: Any, info: ValidationInfo) -> Any:
        """Make a relative `file:` relative to the config file, not to the working directory."""
        base = (info.context or {}).get("base_dir")
        if isinstance(data, dict) and base and data.get("file"):
            path = Path(str(data["file"]))
            if not path.is_absolute():
                data = {**data, "file": str(Path(base) / path)}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env: NAME' or 'file: path'")
        return self

    def resolve(self) -> SecretStr:
        """Read the secret now; the error names the reference, never a value."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConnectorError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConnectorError(f"cannot read secret file {self.file}: {exc.strerror}") from None

    def __repr__(self) -> str:
        return f"SecretRef(env={self.env!r})" if self.env else f"SecretRef(file='{self.file}')"

    __str__ = __repr__
