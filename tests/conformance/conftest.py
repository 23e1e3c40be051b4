"""Fixtures of the conformance run: the suite's asserts are rewritten for readable failures."""

from __future__ import annotations

import pytest

# before the first import of the suite, so its plain asserts explain themselves when they fail
pytest.register_assert_rewrite("crmhub.testing")
