"""`crmhub demo`: invent a company's customer silos and a hub.yaml that connects them.

The silos hold the same people the way real systems do: different column names and formats,
typos, nicknames, missing values, a few broken rows, and many customers present in several
silos, so that a sync shows staging, matching, golden records and write-back at once.
"""

from __future__ import annotations

import shutil
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crmhub.demo_data import generate_customers

SILO_OF_SOURCE = {
    "accounting": "accounting",
    "crm": "sales",
    "support": "credit",
    "webshop": "marketing",
}
"""Demo silo of each generator source; each source has its own formats for dates, case, phones."""
RECORDS_PER_CUSTOMER = 1.8


def create_demo(directory: str | Path, *, customers: int = 3000, seed: int = 7) -> Path:
    """Write the demo silos under `directory/silos/` and `directory/hub.yaml`; return its path.

    An existing demo in `directory` is replaced (silos and golden-record DB), so running the
    demo twice starts from the same state.
    """
    root = Path(directory).resolve()
    silos = root / "silos"
    if silos.exists():
        shutil.rmtree(silos)
    for leftover in root.glob("crmhub.db*"):
        leftover.unlink()
    silos.mkdir(parents=True)
    people = generate_customers(round(customers * RECORDS_PER_CUSTOMER), seed=seed)
    parts = {
        silo: people[people["source"] == source].reset_index(drop=True)
        for source, silo in SILO_OF_SOURCE.items()
    }
    rng = np.random.default_rng(seed)
    write_accounting(parts["accounting"], silos / "accounting.db", rng)
    write_sales(parts["sales"], silos / "sales_contacts.csv", rng)
    write_credit(parts["credit"], silos / "credit.xlsx", rng)
    write_marketing(parts["marketing"], silos / "marketing.ods")
    config = root / "hub.yaml"
    template = resources.files("crmhub.config").joinpath("demo/hub.yaml")
    config.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    return config


def write_accounting(frame: pd.DataFrame, path: Path, rng: np.random.Generator) -> None:
    """An accounting database: one `customers` table with balances and an updated_at cursor."""
    table = pd.DataFrame(
        {
            "customer_id": [f"ACC-{i:06d}" for i in range(1, len(frame) + 1)],
            "first_name": frame["first_name"],
            "last_name": frame["last_name"],
            "email": frame["email"],
            "phone": frame["phone"],
            "street": frame["street"],
            "city": frame["city"],
            "postal_code": frame["postal_code"],
            "country": frame.get("country"),
            "company": frame.get("company"),
            "tax_id": frame.get("tax_id"),
            "balance": np.round(rng.gamma(2.0, 900.0, len(frame)), 2),
            "updated_at": _timestamps(rng, len(frame)),
        }
    )
    with sqlite3.connect(path) as conn:
        table.to_sql("customers", conn, index=False)
        conn.execute("CREATE UNIQUE INDEX ix_customers_id ON customers (customer_id)")


def write_sales(frame: pd.DataFrame, path: Path, rng: np.random.Generator) -> None:
    """A CRM export in CSV with its own column names; one row lacks its key (quarantined)."""
    table = pd.DataFrame(
        {
            "Contact ID": np.arange(5001, 5001 + len(frame)).astype(str),
            "First Name": frame["first_name"],
            "Last Name": frame["last_name"],
            "E-mail": frame["email"],
            "Phone": frame["phone"],
            "Company": frame.get("company"),
            "City": frame["city"],
            "Last Purchase": _timestamps(rng, len(frame)),
        }
    )
    if len(table) > 2:
        table.loc[len(table) // 2, "Contact ID"] = ""
    table.to_csv(path, index=False, encoding="utf-8")


def write_credit(frame: pd.DataFrame, path: Path, rng: np.random.Generator) -> None:
    """A credit bureau workbook: limits and risk bands, birth dates and tax ids."""
    table = pd.DataFrame(
        {
            "Ref": [f"CR{i:05d}" for i in range(1, len(frame) + 1)],
            "Given Name": frame["first_name"],
            "Family Name": frame["last_name"],
            "Date of Birth": frame["birth_date"],
            "Address": frame["street"],
            "Postcode": frame["postal_code"],
            "Tax ID": frame.get("tax_id"),
            "Credit Limit": rng.choice([500, 1000, 2500, 5000, 10000], size=len(frame)),
            "Risk Band": rng.choice(["A", "B", "C", "D"], size=len(frame), p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    table.to_excel(path, sheet_name="Customers", index=False, engine="openpyxl")


def write_marketing(frame: pd.DataFrame, path: Path) -> None:
    """A marketing list kept in an OpenDocument spreadsheet."""
    table = pd.DataFrame(
        {
            "id": np.arange(1, len(frame) + 1),
            "first": frame["first_name"],
            "last": frame["last_name"],
            "email": frame["email"],
            "mobile": frame["phone"],
            "birthday": frame["birth_date"],
            "zip": frame["postal_code"],
            "town": frame["city"],
        }
    )
    table.to_excel(path, index=False, engine="odf")


def _timestamps(rng: np.random.Generator, n: int) -> list[str]:
    base = np.datetime64("2025-01-01T00:00:00")
    seconds = rng.integers(0, 600 * 24 * 3600, size=n)
    return [str(t) for t in (base + seconds.astype("timedelta64[s]"))]


def showcase_customer(database_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A golden customer found in every silo once, with what each silo says about them.

    Reads only the public views, the way a call-centre "screen pop" would.
    """
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            golden_id = conn.execute(
                sa.text(
                    "SELECT golden_id FROM customer_sources GROUP BY golden_id "
                    "ORDER BY count(DISTINCT source) DESC, count(*), golden_id LIMIT 1"
                )
            ).scalar_one_or_none()
            if golden_id is None:
                return None
            golden = (
                conn.execute(
                    sa.text("SELECT * FROM golden_customers WHERE golden_id = :g"), {"g": golden_id}
                )
                .mappings()
                .one()
            )
            members = (
                conn.execute(
                    sa.text(
                        "SELECT s.source, s.source_id, r.first_name, r.last_name, r.email, "
                        "r.phone, r.birth_date, r.postal_code FROM customer_sources s "
                        "JOIN source_record r ON r.id = s.record_id "
                        "WHERE s.golden_id = :g ORDER BY s.source, s.source_id"
                    ),
                    {"g": golden_id},
                )
                .mappings()
                .all()
            )
    finally:
        engine.dispose()
    return dict(golden), [dict(m) for m in members]
