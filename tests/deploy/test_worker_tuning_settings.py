"""A worker's capacity is configuration: the SDK's defaults unless the environment says."""

from __future__ import annotations

import pytest

from deploy.settings import Settings


def test_worker_tuning_defaults_and_overrides() -> None:
    default = Settings.from_env({})
    assert (default.worker_max_activities, default.worker_max_workflow_tasks,
            default.worker_cached_cases) == (100, 100, 1000)
    tuned = Settings.from_env({"ONETHING_WORKER_MAX_ACTIVITIES": "400",
                               "ONETHING_WORKER_MAX_WORKFLOW_TASKS": "50",
                               "ONETHING_WORKER_CACHED_CASES": "5000"})
    assert (tuned.worker_max_activities, tuned.worker_max_workflow_tasks,
            tuned.worker_cached_cases) == (400, 50, 5000)


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_worker_tuning_value_must_be_a_positive_count(value: str) -> None:
    with pytest.raises(ValueError, match="ONETHING_WORKER_CACHED_CASES"):
        Settings.from_env({"ONETHING_WORKER_CACHED_CASES": value})
