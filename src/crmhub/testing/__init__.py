"""Test kit for connector authors: the conformance suite every connector kind must pass.

`from crmhub.testing import ConnectorConformance, ConformanceTarget` in a plug-in's tests; see
`crmhub.testing.conformance` for the five lines it takes. Importing this package needs pytest.
"""

from crmhub.testing.conformance import ConnectorConformance, sample_rows
from crmhub.testing.target import ConformanceTarget, Fault, SampleRow

__all__ = ["ConformanceTarget", "ConnectorConformance", "Fault", "SampleRow", "sample_rows"]
