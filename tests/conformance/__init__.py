"""The conformance suite of crmhub.testing, run over every target in `targets/`."""
