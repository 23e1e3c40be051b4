"""The golden-record database: schema, staging, survivorship, stable ids.

`lookup` (find customers by phone, e-mail or name) is the package's public call for apps:
``crmhub.golden_record.lookup(engine, phone=...)``. It lives in `customer_lookup`, which imports
nothing heavy, so importing this package stays cheap.
"""

from crmhub.golden_record.customer_lookup import (
    CustomerView,
    SourceView,
    lookup,
    refresh_lookup_keys,
)

__all__ = ["CustomerView", "SourceView", "lookup", "refresh_lookup_keys"]
