"""`crmhub lookup`: find a golden customer by phone, e-mail or name and print the 360 view.

A lookup is what a call centre does while the phone rings, so the command keeps start-up short:
nothing heavy is imported before the command runs, hub.yaml is read for the two settings a
lookup needs (the database URL and the phone region) instead of validating every source with
its connector, and the database is opened without the migration check (Alembic alone costs as
much as the rest). The normalisers, which need pandas and polars, are the unavoidable part.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    import sqlalchemy as sa

    from crmhub.golden_record.customer_lookup import CustomerView


def lookup(
    config: Annotated[Path, typer.Argument(help="Path of hub.yaml.")],
    phone: Annotated[
        str | None, typer.Option("--phone", help='A phone number, e.g. "(555) 123-4567".')
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="An e-mail address.")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help='"First Last", "Last, First" or "Last First".')
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many customers.")] = 10,
) -> None:
    """Find golden customers by phone, e-mail or name; print golden values and every source.

    Exit code 1 when no customer matches, 2 when the query or hub.yaml is unusable.
    """
    url, region = _hub_settings(config)
    import sqlalchemy as sa

    from crmhub.golden_record.customer_lookup import KEY_TABLE, LookupQueryError
    from crmhub.golden_record.customer_lookup import lookup as find

    try:
        engine = _open(url)
    except _Unusable as exc:
        _fail(str(exc), 1)
    try:
        found = find(
            engine, phone=phone, email=email, name=name, default_region=region, limit=limit
        )
        unbuilt = not found and _keys_not_built(engine)
    except LookupQueryError as exc:
        _fail(str(exc), 2)
    except sa.exc.SQLAlchemyError as exc:
        message = str(exc).splitlines()[0]
        if KEY_TABLE in message:
            message = "it has no lookup table yet; run `crmhub db upgrade` and `crmhub sync`"
        _fail(f"golden-record DB {_redacted(url)}: {message}", 1)
    finally:
        engine.dispose()
    if unbuilt:
        _fail("the lookup keys are not built yet; run `crmhub sync` once to build them", 1)
    if not found:
        asked = ", ".join(
            f"{what} {value!r}"
            for what, value in (("phone", phone), ("e-mail", email), ("name", name))
            if value is not None
        )
        _fail(f"no golden customer found with {asked}", 1)
    console = Console()  # made here, so it sizes itself to the terminal of this run
    for customer in found:
        _print_customer(console, customer)


class _Unusable(Exception):
    """The golden-record DB cannot be read; the message says which and why."""


def _fail(message: str, code: int) -> NoReturn:
    Console(stderr=True).print(f"[red]error[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _hub_settings(config: Path) -> tuple[str, str]:
    """The golden-record DB URL and phone region of hub.yaml, like `load_hub` resolves them.

    Every scalar is read as text (YAML's BaseLoader), so region "NO" stays Norway.
    """
    import yaml

    path = config.resolve()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        _fail(f"{config}: cannot read it: {str(exc).splitlines()[0]}", 2)
    if not isinstance(data, dict):
        _fail(f"{config}: not a hub.yaml (the top level must be a mapping)", 2)
    database = data.get("database") or {}
    matching = data.get("matching") or {}
    url = database.get("url") if isinstance(database, dict) else None
    region = matching.get("default_region") if isinstance(matching, dict) else None
    if not url:
        url = f"sqlite:///{path.parent / 'crmhub.db'}"
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
        url = prefix + str(path.parent / url[len(prefix) :])
    return url, (region or "US").upper()


def _open(url: str) -> sa.Engine:
    """An engine on an existing golden-record DB; a missing SQLite file is not created."""
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise _Unusable(f"golden-record DB {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or not Path(database).is_file():
            raise _Unusable(f"no golden-record DB at {database or url}; run `crmhub sync` first")
    return sa.create_engine(parsed)


def _keys_not_built(engine: sa.Engine) -> bool:
    """True when the DB has customers but no lookup keys (upgraded, not synced since)."""
    from crmhub.golden_record.customer_lookup import KEY_TABLE

    with engine.connect() as conn:
        keys = conn.exec_driver_sql(f"SELECT 1 FROM {KEY_TABLE} LIMIT 1").first()
        customers = conn.exec_driver_sql(
            "SELECT 1 FROM golden_customer WHERE status = 'active' LIMIT 1"
        ).first()
    return keys is None and customers is not None


def _redacted(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _print_customer(console: Console, customer: CustomerView) -> None:
    """Fields as rows, the golden record and each source record as columns."""
    from rich.table import Table

    from crmhub.canonical import CANONICAL_FIELDS

    sources = customer.sources
    table = Table(
        title=(
            f"golden customer {customer.golden_id} (version {customer.version}, matched by "
            f"{', '.join(customer.matched)}) and its {len(sources)} source records"
        ),
        title_justify="left",
    )
    table.add_column("field")
    table.add_column("golden", style="bold", overflow="fold")
    for source in sources:
        label = f"{source.source} {source.source_id}"
        table.add_column(label + (" (deleted)" if source.deleted else ""), overflow="fold")
    for field in CANONICAL_FIELDS:
        values = [customer.fields.get(field), *(s.fields.get(field) for s in sources)]
        if any(value not in (None, "") for value in values):
            table.add_row(field, *[str(value) if value is not None else "" for value in values])
    console.print(table)
