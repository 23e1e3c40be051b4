"""Alembic migrations of the golden-record database, shipped inside the package."""
