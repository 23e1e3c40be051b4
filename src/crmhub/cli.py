"""The `crmhub` command: demo, sync, check, serve, dedupe, blocking, explain, connectors, schema,
db.

Every command turns crmhub's own errors into one readable line (or one line per config problem)
and an exit code; a traceback means a bug.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import typer
from rich.console import Console

from crmhub.cli_golden import db_grant_reader, golden_app
from crmhub.cli_lookup import lookup as lookup_command
from crmhub.errors import ConfigError, CrmhubError

app = typer.Typer(
    name="crmhub",
    help="Customer-data integration hub: silos -> golden customer records -> write-back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Golden-record database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(golden_app, name="golden")
db_app.command("grant-reader")(db_grant_reader)
app.command("lookup")(lookup_command)
console = Console(stderr=False)
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="Path of hub.yaml.")]


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Print crmhub errors as plain lines and exit non-zero; let real bugs show a traceback."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(f"[red]error[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except CrmhubError as exc:
        err_console.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo.")] = Path(
        "crmhub-demo"
    ),
    customers: Annotated[int, typer.Option(help="How many real customers to invent.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 7,
) -> None:
    """Create demo silos, sync them into a SQLite golden-record DB and write golden ids back."""
    from crmhub.cli_progress import render_customer
    from crmhub.config.loader import load_hub
    from crmhub.demo import create_demo, showcase_customer

    with _friendly_errors():
        config_path = create_demo(directory, customers=customers, seed=seed)
        console.print(f"Demo silos and hub config written under [bold]{directory}[/bold]")
        summary = _run_sync(config_path)
        _print_summary(summary)
        shown = showcase_customer(load_hub(config_path).database_url)
        if shown is not None:
            render_customer(console, *shown)
        console.print(
            f"\nGolden-record DB: [bold]{directory / 'crmhub.db'}[/bold] (apps read the views "
            f"golden_customers, customer_sources and customer_360). Golden ids were written back "
            f"into each silo's crmhub_id column. Find a customer: {_command_name()} lookup "
            f"{os.path.relpath(config_path)} --phone ...; sync again: {_command_name()} sync "
            f"{os.path.relpath(config_path)}",
            highlight=False,
        )


@app.command()
def sync(config: ConfigArg) -> None:
    """Run the sync flow once: extract, stage, match, build golden records, write back."""
    with _friendly_errors():
        summary = _run_sync(config)
        _print_summary(summary)
        if summary.failed_sources:
            raise typer.Exit(1)


@app.command()
def check(config: ConfigArg) -> None:
    """Validate hub.yaml and try every connection; say plainly what is wrong."""
    from crmhub.pipeline import check_hub

    with _friendly_errors():
        results = check_hub(config)
        for name, ok, message in results:
            mark = "[green]ok  [/green]" if ok else "[red]FAIL[/red]"
            console.print(f"{mark} {name}: {message}", highlight=False, soft_wrap=True)
        if not all(ok for _, ok, _ in results):
            raise typer.Exit(1)


@app.command()
def serve(config: ConfigArg) -> None:
    """Serve the sync flow on the schedule of hub.yaml against a Prefect server."""
    from crmhub.flows.deploy import serve_hub

    with _friendly_errors():
        serve_hub(config)


@app.command()
def dedupe(
    input_csv: Annotated[
        Path,
        typer.Argument(help="CSV with canonical column names.", exists=True, dir_okay=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write key columns + cluster_id.")],
    model_out: Annotated[
        Path | None,
        typer.Option("--model-out", help="Also save the learnt match model as JSON here."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="CSV of steward decisions (left,right,is_match by record key) to learn from.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Score with this saved model (from --model-out) instead of learning one.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Deduplicate one CSV without any config; every row gets its cluster's golden id."""
    from crmhub.matching.dedupe import dedupe_csv

    with _friendly_errors():
        summary = dedupe_csv(
            input_csv, out, model_path=model_out, labels_path=labels, model_in=model
        )
        console.print(
            f"{summary.rows} rows -> {summary.clusters} clusters "
            f"({summary.duplicate_rows} duplicate rows, {summary.match_pairs} matched pairs, "
            f"{summary.review_pairs} pairs for review) in {summary.seconds:.1f} s; "
            f"key: {', '.join(summary.key_columns)}; compared: "
            f"{', '.join(summary.identity_columns)}; wrote {summary.output_path}",
            highlight=False,
        )


@app.command()
def blocking(
    config: Annotated[
        Path | None, typer.Argument(help="hub.yaml: its rules, on the records staged so far.")
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="A CSV with canonical column names instead of the hub's DB."),
    ] = None,
    top: Annotated[int, typer.Option(help="Biggest blocks shown per rule.")] = 3,
) -> None:
    """Show what the blocking rules produce (pairs per rule, biggest blocks) before a match."""
    import pandas as pd

    from crmhub.matching.blocking import blocking_report
    from crmhub.matching.normalize import normalize_frame
    from crmhub.matching.settings import MatchingSettings

    if (config is None) == (csv is None):
        err_console.print("[red]error[/red] give hub.yaml or --csv FILE (one of them)")
        raise typer.Exit(2)
    with _friendly_errors():
        if config is not None:
            from crmhub.config.loader import load_hub
            from crmhub.golden_record import store
            from crmhub.pipeline import golden_database

            hub = load_hub(config)
            settings = hub.config.matching
            records = store.load_match_input(golden_database(hub.database_url))
            where = "records staged in the golden-record DB"
        else:
            assert csv is not None
            settings = MatchingSettings()
            records = pd.read_csv(csv, dtype=str, keep_default_na=False).replace("", None)
            where = str(csv)
        if records.empty:
            console.print(f"no records in {where}: run `crmhub sync` first, or give --csv")
            return
        normalized = normalize_frame(
            records, default_region=settings.default_region, dayfirst=settings.dayfirst
        )
        report = blocking_report(normalized, settings.blocking, settings.max_block_size, top=top)
    _print_blocking(report, where)


def _print_blocking(report: Any, where: str) -> None:
    from rich.table import Table

    table = Table(title=f"blocking on {report.records:,} {where}", title_justify="left")
    table.add_column("rule", overflow="fold")
    for column in ("pairs alone", "new pairs", "largest block", "blocks left out"):
        table.add_column(column, justify="right")
    for row in report.rules.itertuples():
        table.add_row(
            row.rule,
            f"{row.pairs:,}",
            f"{getattr(row, 'new_pairs', 0):,}",
            f"{row.largest_block:,}",
            f"{row.capped_blocks:,}" if row.capped_blocks else "-",
        )
    console.print(table)
    if "new_pairs" in report.rules:
        console.print(f"{int(report.rules['new_pairs'].sum()):,} candidate pairs in all")
    for label, blocks in report.largest.items():
        if blocks.empty:
            continue
        keys = [c for c in blocks.columns if c != "records"]
        shown = ", ".join(
            f"{int(b.records)} x ({', '.join(str(getattr(b, k)) for k in keys)})"
            for b in blocks.itertuples()
        )
        console.print(f"  {label}: {shown}", highlight=False, soft_wrap=True)
    if report.max_block_size and report.rules["capped_blocks"].any():
        console.print(
            f"blocks larger than their rule's cap (max_block_size={report.max_block_size} unless "
            "the rule sets its own) are left out of that rule (other rules may still pair those "
            "records); tighten the rule or raise the cap",
            highlight=False,
        )


@app.command()
def explain(
    config: ConfigArg,
    left: Annotated[str, typer.Argument(help="One record as source:source_id, e.g. sales:5516.")],
    right: Annotated[str, typer.Argument(help="The other record, e.g. accounting:ACC-001361.")],
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Also write the waterfall chart to this file.")
    ] = None,
) -> None:
    """Why two records were linked: each comparison's level and weight, and the total."""
    from rich.table import Table

    from crmhub.config.loader import load_hub
    from crmhub.matching.explain import explain_pair, waterfall_svg
    from crmhub.pipeline import golden_database

    with _friendly_errors():
        hub = load_hub(config)
        found = explain_pair(golden_database(hub.database_url), left, right)
    table = Table(
        title=f"{left} vs {right} (run {found.run_id}, found by {found.rule or '-'})",
        title_justify="left",
    )
    table.add_column("comparison")
    table.add_column("level")
    table.add_column("weight", justify="right")
    for step in found.steps:
        table.add_row(step.label, step.level, f"{step.weight:+.2f}")
    table.add_row("[bold]total[/bold]", "", f"[bold]{found.total:+.2f}[/bold]")
    console.print(table)
    console.print(f"match probability {found.probability:.4f}: {found.decision}", highlight=False)
    if svg is not None:
        svg.write_text(waterfall_svg(found), encoding="utf-8")
        console.print(f"wrote {svg}")


Pair = tuple[str, str]


@app.command()
def review(
    config: ConfigArg,
    match: Annotated[
        Pair | None, typer.Option("--match", help="Record two records as one customer: A B.")
    ] = None,
    not_match: Annotated[
        Pair | None, typer.Option("--not-match", help="Record two records as different: A B.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Take one record out of its customer.")
    ] = None,
    by: Annotated[str, typer.Option(help="Who decides (kept with the decision).")] = "",
    note: Annotated[str | None, typer.Option(help="Why, for whoever looks later.")] = None,
    limit: Annotated[int, typer.Option(help="Pairs listed at most.")] = 20,
) -> None:
    """The review queue: pairs waiting for a person, and their decisions (honoured by every
    later run). Records are source:source_id, e.g. sales:5516."""
    import os

    from crmhub.config.loader import load_hub
    from crmhub.golden_record import steward
    from crmhub.pipeline import golden_database

    who = by or os.environ.get("USER") or "steward"
    with _friendly_errors():
        engine = golden_database(load_hub(config).database_url)
        if match or not_match:
            pair, decision = (match, "match") if match else (not_match, "not_match")
            assert pair is not None
            steward.decide(engine, *pair, decision, by=who, note=note)
            console.print(f"recorded: {pair[0]} and {pair[1]} {decision.replace('_', ' ')}")
            return
        if split:
            apart = steward.split_out(engine, split, by=who, note=note)
            console.print(
                f"{split} will be kept apart from {len(apart)} record(s) from the next run"
            )
            return
        _print_reviews(steward.pending_reviews(engine, limit))


_NOT_AGREEING = frozenset({"null", "else", "term_frequency"})


def _print_reviews(pending: Any) -> None:
    from rich.table import Table

    if pending.empty:
        console.print("nothing waits for review")
        return
    table = Table("left", "right", "probability", "found by", "agrees on", "differs on")
    for row in pending.itertuples():
        items = row.evidence if isinstance(row.evidence, list) else []
        agrees = [i["comparison"] for i in items if i["level"] not in _NOT_AGREEING]
        differs = [i["comparison"] for i in items if i["level"] == "else"]
        table.add_row(
            row.left,
            row.right,
            f"{row.probability:.3f}",
            str(row.rule or "-"),
            ", ".join(agrees),
            ", ".join(differs),
        )
    console.print(table)
    console.print(
        "decide with: crmhub review HUB --match A B | --not-match A B | --split A "
        "(crmhub explain HUB A B shows the weights)",
        highlight=False,
    )


@app.command()
def connectors() -> None:
    """List the installed connector kinds with their capabilities and where they come from."""
    from rich.table import Table

    from crmhub.connectors.base import Capability
    from crmhub.connectors.registry import installed_kinds

    with _friendly_errors():
        kinds = installed_kinds()
    table = Table("kind", *[c.value for c in Capability], "class", "distribution")
    for kind in kinds:
        marks = ["yes" if c in kind.capabilities else "-" for c in Capability]
        table.add_row(kind.name, *marks, kind.class_path, kind.origin)
    console.print(table)


@app.command()
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write; default stdout.")
    ] = None,
) -> None:
    """Write the JSON Schema of hub.yaml, for editor completion and validation."""
    from crmhub.config.schema import hub_json_schema

    text = json.dumps(hub_json_schema(), indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {out}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigArg) -> None:
    """Apply the golden-record DB migrations (done automatically on first use as well)."""
    from crmhub.config.loader import load_hub
    from crmhub.golden_record.db import upgrade

    with _friendly_errors():
        hub = load_hub(config)
        upgrade(hub.database_url)
        console.print("golden-record database is up to date")


def _command_name() -> str:
    """How the user can call crmhub again from here: the path it was started by, if any."""
    invoked = Path(sys.argv[0])
    return os.path.relpath(invoked) if invoked.is_file() else "crmhub"


def _run_sync(config: Path) -> Any:
    from crmhub.config.loader import load_hub
    from crmhub.flows.sync import sync_flow
    from crmhub.pipeline import golden_database
    from crmhub.progress import use_progress

    hub = load_hub(config)  # config and DB problems are one line here, not a crashed flow
    golden_database(hub.database_url)

    with _rich_progress() as progress:
        use_progress(progress)
        try:
            return sync_flow(str(config.resolve()))
        finally:
            use_progress(None)


@contextmanager
def _rich_progress() -> Iterator[Any]:
    from crmhub.cli_progress import RichProgress

    with RichProgress(console) as progress:
        yield progress


def _print_summary(summary: Any) -> None:
    from crmhub.cli_progress import render_summary

    render_summary(console, summary)


main: Callable[[], None] = app
