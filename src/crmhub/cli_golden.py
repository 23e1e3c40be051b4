"""`crmhub golden resolve` and `crmhub db grant-reader`: the golden-record DB as apps see it.

Kept apart from cli.py so the reader-facing commands stay small; cli.py registers them. The
shared error handling and consoles are imported from cli.py when a command runs (not at import,
which would be circular).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

golden_app = typer.Typer(
    help="The golden records as other applications read them.", no_args_is_help=True
)

ConfigArg = Annotated[Path, typer.Argument(help="Path of hub.yaml.")]
DEFAULT_PASSWORD_ENV = "CRMHUB_READER_PASSWORD"


@golden_app.command("resolve")
def golden_resolve(
    config: ConfigArg,
    golden_id: Annotated[str, typer.Argument(help="A golden id an application kept.")],
) -> None:
    """Print the active golden id an id resolves to (first line), and its merge chain."""
    from crmhub.cli import _friendly_errors, console
    from crmhub.config.loader import load_hub
    from crmhub.golden_record.readers import ReaderError, merge_chain, resolve_golden_id
    from crmhub.pipeline import golden_database

    with _friendly_errors():
        engine = golden_database(load_hub(config).database_url)
        chain = merge_chain(engine, golden_id.strip())
        if not chain:
            raise ReaderError(f"no golden record has ever had the id {golden_id.strip()!r}")
        survivor = resolve_golden_id(engine, chain[0])
        if survivor is None:
            raise ReaderError(
                f"{chain[0]} is retired and its merge chain ({' -> '.join(chain)}) ends at no "
                "active golden record"
            )
    console.print(survivor, highlight=False)
    if len(chain) > 1:
        console.print(f"merged: {' -> '.join(chain)}", highlight=False)
    else:
        console.print(f"{survivor} is active (never merged into another id)", highlight=False)


def db_grant_reader(
    config: ConfigArg,
    name: Annotated[str, typer.Argument(help="Login role to create or update, e.g. billing.")],
    password_env: Annotated[
        str,
        typer.Option(
            "--password-env",
            help="Environment variable holding the role's password (never give it as an "
            "argument: it would end up in shell history and process lists).",
        ),
    ] = DEFAULT_PASSWORD_ENV,
) -> None:
    """PostgreSQL: a login that can SELECT the public views and nothing else."""
    from crmhub.cli import _friendly_errors, console
    from crmhub.config.loader import load_hub
    from crmhub.golden_record.readers import ReaderError, check_role_name, grant_reader
    from crmhub.pipeline import golden_database

    with _friendly_errors():
        check_role_name(name)
        engine = golden_database(load_hub(config).database_url)
        password = os.environ.get(password_env, "")
        if not password and engine.dialect.name != "sqlite":
            raise ReaderError(f"set {password_env} to the password of role {name}")
        grant = grant_reader(engine, name, password)
    done = "created" if grant.created else "updated"
    console.print(
        f"role {grant.name} {done}: it can SELECT {', '.join(grant.views)} in schema "
        f"{grant.schema} (its default search_path) and nothing else",
        highlight=False,
        soft_wrap=True,
    )
    for note in grant.notes:
        console.print(note, highlight=False, soft_wrap=True)
