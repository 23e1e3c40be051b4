"""The schedule of `crmhub serve` comes from hub.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crmhub.config.models import ScheduleSettings
from crmhub.errors import ConfigError
from crmhub.flows.deploy import hub_schedule


def test_cron_keeps_its_time_zone() -> None:
    schedule = hub_schedule(ScheduleSettings(cron="0 6 * * *", timezone="Europe/Berlin"), Path("h"))
    assert schedule.cron == "0 6 * * *"
    assert schedule.timezone == "Europe/Berlin"


def test_interval_in_minutes() -> None:
    schedule = hub_schedule(ScheduleSettings(interval_minutes=15), Path("h"))
    assert schedule.interval == timedelta(minutes=15)


def test_serving_without_schedule_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="interval_minutes"):
        hub_schedule(ScheduleSettings(), Path("hub.yaml"))


def test_cron_and_interval_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        ScheduleSettings(cron="* * * * *", interval_minutes=5)
