"""Prefect flows: wiring only; every step is a plain function in crmhub.pipeline."""
