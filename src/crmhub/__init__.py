"""crmhub: one golden customer record from many business systems."""

from __future__ import annotations

__version__ = "0.1.0"
