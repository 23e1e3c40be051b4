"""The steps of a sync as plain functions; flows/sync.py only wires them together.

Each step opens what it needs from the config path, so it can run in any worker, and each is
idempotent: staging upserts by content hash and moves a stream's state in the same transaction,
golden ids are derived from what is stored, and write-back sends only what the system lacks.
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crmhub.config.loader import Hub, SourceDefinition, load_hub
from crmhub.connectors.base import Batch, Capability, Connector, StreamSpec
from crmhub.errors import ConnectorError, CrmhubError, GoldenDatabaseError, SourceContractError
from crmhub.golden_record import models, steward, store
from crmhub.golden_record.build import build_golden
from crmhub.golden_record.db import open_database
from crmhub.golden_record.staging import stage_batches
from crmhub.golden_record.writeback import apply_report, plan_writeback
from crmhub.matching.engine import match_records
from crmhub.progress import current_progress
from crmhub.schema_drift import DriftWatch, load_known_fields

log = logging.getLogger(__name__)


@dataclass
class SourceSummary:
    """What one source's extract and write-back did in a run."""

    name: str
    status: str = "ok"
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    written: int = 0
    write_unchanged: int = 0
    write_rejected: int = 0
    error: str = ""
    schema_changes: list[str] = field(default_factory=list)
    """New, removed or retyped fields seen in this read (see crmhub.schema_drift)."""

    def as_row(self) -> dict[str, Any]:
        """Flat dict for tables and artifacts."""
        row = asdict(self)
        row["schema_changes"] = "; ".join(self.schema_changes)
        return row


@dataclass
class RunSummary:
    """What one sync run did, per source and for the golden records."""

    run_id: int
    sources: list[SourceSummary] = field(default_factory=list)
    golden: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    quarantine_samples: list[str] = field(default_factory=list)
    """A few of this run's quarantined records as `source position: reason` lines."""

    @property
    def failed_sources(self) -> list[str]:
        """Names of the sources that failed to extract or write back."""
        return [s.name for s in self.sources if s.status != "ok"]

    def as_markdown(self) -> str:
        """A short report for Prefect's UI."""
        lines = [
            f"# crmhub sync run {self.run_id}",
            "",
            "| source | status | read | new | changed | quarantined | written back | error |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {s.name} | {s.status} | {s.read} | {s.inserted} | {s.updated} | "
            f"{s.quarantined} | {s.written} | {s.error} |"
            for s in self.sources
        ]
        g, p = self.golden, self.pairs
        lines += [
            "",
            f"Golden records: {g.get('active', 0)} active "
            f"from {g.get('records', 0)} source records "
            f"(created {g.get('created', 0)}, updated {g.get('updated', 0)}, "
            f"merged {g.get('merged', 0)}); pairs matched {p.get('match', 0)}, "
            f"for review {p.get('review', 0)}.",
        ]
        drift = [(s.name, line) for s in self.sources for line in s.schema_changes]
        if drift:
            lines += ["", "Schema changes:", ""]
            lines += [f"- {name}: {line}" for name, line in drift]
        return "\n".join(lines)


@functools.cache
def golden_database(url: str) -> sa.Engine:
    """The migrated golden-record DB at `url`, opened once per process and shared by steps.

    Raises:
        GoldenDatabaseError: one line saying which database and why it cannot be used.
    """
    try:
        return open_database(url)
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        message = f"golden-record DB {_redact_url(url)}: cannot open it: {_first_line(exc)}"
        raise GoldenDatabaseError(message) from None


def start_run(config_path: str) -> int:
    """Open (and migrate) the golden-record DB and record a new run."""
    hub = load_hub(config_path)
    return store.start_run(golden_database(hub.database_url))


def finish_run(config_path: str, summary: RunSummary) -> None:
    """Store the run's summary and final status."""
    hub = load_hub(config_path)
    payload = {
        "sources": [s.as_row() for s in summary.sources],
        "golden": summary.golden,
        "pairs": summary.pairs,
    }
    status = "failed" if summary.failed_sources else "succeeded"
    store.finish_run(
        golden_database(hub.database_url), summary.run_id, status=status, summary=payload
    )


def extract_source(config_path: str, name: str, run_id: int) -> SourceSummary:
    """Read `name` from its saved state into staging; state advances with each committed batch.

    Raises:
        ConnectorError: the source cannot be read; the flow records it and other sources go on.
    """
    hub = load_hub(config_path)
    source = hub.sources[name]
    engine = golden_database(hub.database_url)
    summary = SourceSummary(name=name)
    progress = current_progress()
    progress.start(f"read {name}")
    connector = source.make_connector()
    try:
        spec = _select_stream(source, connector)
        state = store.load_state(engine, name, spec.name)
        drift = DriftWatch(
            load_known_fields(engine, name, spec.name),
            source.settings.schema_drift,
            source=name,
            stream=spec.name,
            discovered=spec.columns,
            ignore=_echo_fields(source),
        )
        watched = drift.watch(connector.read(spec.name, state))
        batches = _counted(watched, summary, f"read {name}")
        try:
            stats = stage_batches(
                engine,
                run_id,
                name,
                spec.name,
                batches,
                key=spec.key,
                mapping=source.settings.mapping,
                ignore_fields=_echo_fields(source),
            )
        except BaseException:
            _save_field_types(drift, engine)  # of the batches committed before the stop
            raise
        summary.inserted, summary.updated = stats.inserted, stats.updated
        summary.unchanged, summary.quarantined = stats.unchanged, stats.quarantined
        try:
            summary.schema_changes = drift.finish().lines()
        finally:
            drift.save(engine)
    finally:
        connector.close()
    progress.finish(f"read {name}", f"{summary.inserted} new, {summary.updated} changed")
    return summary


def _save_field_types(drift: DriftWatch, engine: sa.Engine) -> None:
    """Remember the field types seen so far without hiding the error that stopped the read."""
    try:
        drift.save(engine)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not save the field types of %s: %s", drift.source, exc)


def match_and_build(config_path: str, run_id: int) -> dict[str, Any]:
    """Match every staged record and build golden records; returns golden and pair figures."""
    hub = load_hub(config_path)
    engine = golden_database(hub.database_url)
    progress = current_progress()
    progress.start("match")
    frame = store.load_match_input(engine)
    labels = steward.decisions_as_labels(engine)
    staged = labels["left_id"].isin(frame["record_id"]) & labels["right_id"].isin(
        frame["record_id"]
    )
    result = match_records(
        frame, hub.config.matching, labels=labels[staged] if staged.any() else None
    )
    decisions = result.pairs["decision"].value_counts().to_dict() if len(result.pairs) else {}
    progress.finish("match", f"{len(frame)} records, {decisions.get('match', 0)} matched pairs")
    progress.start("golden records")
    trust = {name: source.settings.trust for name, source in hub.sources.items()}
    stats = build_golden(
        engine,
        run_id,
        result.clusters,
        result.pairs,
        trust=trust,
        now=_now(),
        survivorship=hub.config.survivorship,
        default_region=hub.config.matching.default_region,
    )
    golden = {**asdict(stats), "active": _count_active(engine)}
    progress.finish("golden records", f"{golden['active']} active")
    return {"golden": golden, "pairs": {k: int(v) for k, v in decisions.items()}}


def write_back_source(config_path: str, name: str, run_id: int) -> SourceSummary:
    """Send `name` the golden ids and golden values it does not have yet; log every row."""
    hub = load_hub(config_path)
    source = hub.sources[name]
    engine = golden_database(hub.database_url)
    summary = SourceSummary(name=name)
    connector = source.make_connector()
    progress = current_progress()
    try:
        spec = _select_stream(source, connector)
        upserts = plan_writeback(engine, source, spec.name)
        progress.start(f"write back {name}", total=len(upserts))
        if upserts:
            report = connector.write(spec.name, upserts)
            counts = apply_report(engine, run_id, source, spec.name, upserts, report, key=spec.key)
            summary.written = counts.get("applied", 0)
            summary.write_unchanged = counts.get("unchanged", 0)
            summary.write_rejected = counts.get("rejected", 0)
        progress.advance(f"write back {name}", len(upserts))
    finally:
        connector.close()
    progress.finish(f"write back {name}", f"{summary.written} rows updated")
    return summary


def quarantine_samples(config_path: str, run_id: int, limit: int = 5) -> list[str]:
    """Up to `limit` records quarantined by run `run_id`, as `source position: reason`."""
    hub = load_hub(config_path)
    table = models.Quarantine.__table__
    query = (
        sa.select(table.c.source, table.c.position, table.c.reason)
        .where(table.c.run_id == run_id)
        .order_by(table.c.id)
        .limit(limit)
    )
    with golden_database(hub.database_url).connect() as conn:
        return [f"{src} {pos}: {reason}" for src, pos, reason in conn.execute(query)]


def can_write_back(hub: Hub, name: str) -> bool:
    """Whether the source declares WRITE and its write-back is enabled in hub.yaml."""
    source = hub.sources[name]
    writes = Capability.WRITE in source.connector_cls.capabilities
    return writes and source.settings.writeback.enabled


def summarise(
    run_id: int,
    names: list[str],
    extracted: Mapping[str, SourceSummary],
    written: Mapping[str, SourceSummary],
    golden: Mapping[str, Any],
) -> RunSummary:
    """Merge per-source extract and write-back results into one run summary."""
    sources = []
    for name in names:
        summary = extracted[name]
        if name in written:
            wrote = written[name]
            summary.written, summary.write_rejected = wrote.written, wrote.write_rejected
            summary.write_unchanged = wrote.write_unchanged
            if wrote.status != "ok":
                summary.status, summary.error = wrote.status, wrote.error
        sources.append(summary)
    return RunSummary(
        run_id, sources, dict(golden.get("golden", {})), dict(golden.get("pairs", {}))
    )


def check_hub(config_path: Any) -> list[tuple[str, bool, str]]:
    """Validate the config, open the golden-record DB and check every source's connection."""
    hub = load_hub(config_path)
    results: list[tuple[str, bool, str]] = [("hub.yaml", True, str(hub.path))]
    try:
        golden_database(hub.database_url)
        results.append(("golden-record DB", True, _redact_url(hub.database_url)))
    except GoldenDatabaseError as exc:
        results.append(("golden-record DB", False, str(exc).removeprefix("golden-record DB ")))
    for name, source in hub.sources.items():
        results.append((f"source {name}", *_check_source(source)))
    return results


def _check_source(source: SourceDefinition) -> tuple[bool, str]:
    connector = source.make_connector()
    try:
        result = connector.check()
        if not result.ok:
            return False, without_source_name(result.message, source.name)
        _select_stream(source, connector)
        return True, result.message or "connected"
    except CrmhubError as exc:
        return False, without_source_name(str(exc), source.name)
    finally:
        connector.close()


def without_source_name(message: str, name: str) -> str:
    """The message without a leading `name: `, for lines that already start with the name."""
    return message.removeprefix(f"{name}: ")


def _select_stream(source: SourceDefinition, connector: Connector) -> StreamSpec:
    """The stream this source reads, with every mapped field checked against its columns."""
    streams = connector.discover()
    wanted = source.settings.stream
    if wanted is None and len(streams) != 1:
        names = [s.name for s in streams]
        raise SourceContractError(f"several streams {names}; set 'stream'", source=source.name)
    spec = streams[0] if wanted is None else next((s for s in streams if s.name == wanted), None)
    if spec is None:
        hint = _hint(wanted or "", [s.name for s in streams])
        raise SourceContractError(f"no stream {wanted!r}{hint}", source=source.name)
    _check_mapping(source, spec)
    return spec


def _check_mapping(source: SourceDefinition, spec: StreamSpec) -> None:
    columns = set(spec.columns)
    default = dict(source.connector_cls.default_mapping)
    uses_default = bool(default) and source.settings.mapping == {
        k: v if isinstance(v, str) else list(v) for k, v in default.items()
    }
    for canonical, fields in source.settings.mapping.items():
        for column in [fields] if isinstance(fields, str) else fields:
            if column not in columns:
                hint = _hint(column, spec.columns)
                if uses_default:
                    hint += (
                        f" (from the default mapping of {source.connector_cls.kind}; give "
                        "'mapping' with this stream's own field names)"
                    )
                raise SourceContractError(
                    f"mapping.{canonical}: stream {spec.name!r} has no column {column!r}{hint}",
                    source=source.name,
                )


def _echo_fields(source: SourceDefinition) -> tuple[str, ...]:
    """Source fields that only crmhub writes: a change there is our own echo, not news."""
    field_name = source.settings.writeback.golden_id_field
    return (field_name,) if field_name else ()


def _counted(batches: Iterator[Batch], summary: SourceSummary, step: str) -> Iterator[Batch]:
    """Pass batches through, counting what was read and reporting progress."""
    progress = current_progress()
    for batch in batches:
        summary.read += len(batch.records) + len(batch.rejected)
        progress.advance(step, len(batch.records) + len(batch.rejected))
        yield batch


def _count_active(engine: sa.Engine) -> int:
    table = models.GoldenCustomer.__table__
    query = sa.select(sa.func.count()).select_from(table).where(table.c.status == "active")
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _hint(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; it has {sorted(choices)}"


def _redact_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _now() -> datetime:
    return datetime.now(UTC)


__all__ = ["ConnectorError", "RunSummary", "SourceSummary"]
