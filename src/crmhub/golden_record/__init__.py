"""The golden-record database: schema, staging, survivorship, stable ids."""
