"""Stateful fakes of vendor APIs, served on 127.0.0.1 for connector tests and benchmarks."""
