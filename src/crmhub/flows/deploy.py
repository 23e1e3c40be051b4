"""Serve the sync flow on the schedule written in hub.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.schedules import Cron, Interval

from crmhub.config.loader import load_hub
from crmhub.config.models import ScheduleSettings
from crmhub.errors import ConfigError, ConfigProblem
from crmhub.flows.sync import sync_flow


def hub_schedule(schedule: ScheduleSettings, config_path: Path) -> Any:
    """The Prefect schedule of a hub: its cron or its interval, in its time zone."""
    if schedule.cron:
        return Cron(schedule.cron, timezone=schedule.timezone)
    if schedule.interval_minutes:
        return Interval(timedelta(minutes=schedule.interval_minutes), timezone=schedule.timezone)
    problem = ConfigProblem(
        str(config_path), None, None, "schedule", "set 'cron' or 'interval_minutes' to serve it"
    )
    raise ConfigError([problem])


def serve_hub(config_path: str | Path) -> None:
    """Block and run `sync` whenever the hub's schedule says; Ctrl-C stops it."""
    path = Path(config_path).resolve()
    hub = load_hub(path)
    sync_flow.serve(
        name=hub.config.name,
        schedules=[hub_schedule(hub.config.schedule, path)],
        parameters={"config_path": str(path)},
        description=f"crmhub sync of {path}",
    )
