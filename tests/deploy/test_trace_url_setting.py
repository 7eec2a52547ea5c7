"""The trace UI a deployment names is where the backlog's trace ids link to."""

from __future__ import annotations

from deploy.settings import Settings


def test_the_trace_ui_is_a_setting_and_none_by_default() -> None:
    assert Settings.from_env({}).trace_url is None
    url = "http://jaeger:16686/trace/{trace_id}"
    assert Settings.from_env({"ONETHING_TRACE_URL": url}).trace_url == url
