"""The `sync` flow: extract each source -> stage -> match -> golden records -> write back.

Extract and write-back are one task per source, so a failing source stops only itself. Only
idempotent I/O steps retry (staging and write-back are idempotent; HTTP retries live in the
client), and only on transient faults.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture

from crmhub import pipeline
from crmhub.config.loader import load_hub
from crmhub.errors import RetryableError
from crmhub.pipeline import RunSummary, SourceSummary


def _is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task only when it failed on a fault that a second try can cure."""
    try:
        state.result()
    except (RetryableError, sqlalchemy.exc.OperationalError):
        return True
    except Exception:
        return False
    return False


@task(name="extract", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_is_transient)
def extract_task(config_path: str, source: str, run_id: int) -> SourceSummary:
    """Read one source incrementally into staging, committing its state with each batch."""
    return pipeline.extract_source(config_path, source, run_id)


@task(name="match-and-build")
def match_and_build_task(config_path: str, run_id: int) -> dict[str, Any]:
    """Match all staged records and build the golden records from the clusters."""
    return pipeline.match_and_build(config_path, run_id)


@task(name="write-back", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_is_transient)
def write_back_task(config_path: str, source: str, run_id: int) -> SourceSummary:
    """Send one source the golden ids and corrected fields it does not have yet."""
    return pipeline.write_back_source(config_path, source, run_id)


@flow(name="sync", log_prints=False, validate_parameters=False)
def sync_flow(config_path: str) -> RunSummary:
    """Run one sync of the hub described by `config_path`; returns what it did."""
    hub = load_hub(config_path)
    run_id = pipeline.start_run(config_path)
    names = [name for name, source in hub.sources.items() if source.settings.enabled]
    extracted = _collect(
        {name: extract_task.submit(config_path, name, run_id) for name in names}, "extract"
    )
    golden = match_and_build_task(config_path, run_id)
    writable = [n for n in names if extracted[n].status == "ok" and pipeline.can_write_back(hub, n)]
    written = _collect(
        {name: write_back_task.submit(config_path, name, run_id) for name in writable}, "write-back"
    )
    summary = pipeline.summarise(run_id, names, extracted, written, golden)
    summary.quarantine_samples = pipeline.quarantine_samples(config_path, run_id)
    pipeline.finish_run(config_path, summary)
    _publish(summary)
    return summary


def _collect(
    futures: dict[str, PrefectFuture[SourceSummary]], step: str
) -> dict[str, SourceSummary]:
    """Wait for per-source tasks; a failed one becomes a failed summary, the others stand."""
    results = {}
    for name, future in futures.items():
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            reason = pipeline.without_source_name(str(outcome), name)
            results[name] = SourceSummary(name=name, status="failed", error=f"{step}: {reason}")
        else:
            results[name] = outcome
    return results


def _publish(summary: RunSummary) -> None:
    """Leave the run summary in Prefect's UI as a table and a short markdown report."""
    rows = [source.as_row() for source in summary.sources]
    create_table_artifact(key="sync-sources", table=rows, description="per-source figures")
    create_markdown_artifact(key="sync-summary", markdown=summary.as_markdown())
