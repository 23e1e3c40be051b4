"""Serve the sync flow on the schedule written in hub.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crmhub.config.loader import load_hub
from crmhub.errors import ConfigError, ConfigProblem
from crmhub.flows.sync import sync_flow


def serve_hub(config_path: str | Path) -> None:
    """Block and run `sync` whenever the hub's cron or interval says; Ctrl-C stops it."""
    path = Path(config_path).resolve()
    hub = load_hub(path)
    schedule = hub.config.schedule
    if not schedule.cron and not schedule.interval_minutes:
        problem = ConfigProblem(
            str(path), None, None, "schedule", "set 'cron' or 'interval_minutes' to serve the hub"
        )
        raise ConfigError([problem])
    interval = timedelta(minutes=schedule.interval_minutes) if schedule.interval_minutes else None
    sync_flow.serve(
        name=hub.config.name,
        cron=schedule.cron,
        interval=interval,
        parameters={"config_path": str(path)},
    )
