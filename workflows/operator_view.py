"""What an operator reads of a case in Temporal's web UI, set when the case starts: a one-line
summary, details naming the bundle's steps, and a memo with the bundle and the centre.
Bundle, step, agency and centre names only: never a value of the citizen's.

Pure functions of the bundle's definition, shared by every starter of a case (the gateway,
the allowance match)."""

from __future__ import annotations

from workflows.definition import BundleDefinition, StepSpec

MEMO_BUNDLE = "bundle"
MEMO_BUNDLE_VERSION = "bundle_version"
MEMO_BUNDLE_NAME = "bundle_name"
MEMO_CENTRE = "centre"


def case_summary(bundle: BundleDefinition, centre: str) -> str:
    """One line: the bundle's name and version, and the centre."""
    return f"{bundle.name_zh} v{bundle.version} · {centre}"


def _sla(step: StepSpec) -> str:
    if step.sla_working_days:
        return f"{step.sla_working_days} 个工作日 (working days)"
    if step.sla_minutes:
        return f"{step.sla_minutes} 分钟 (minutes)"
    return "无时限 (no SLA)"


def case_details(bundle: BundleDefinition, centre: str, channel: str) -> str:
    """Markdown: the bundle, where and how the case was opened, each step with whoever
    decides or does it and its SLA."""
    lines = [f"**{bundle.name_zh}** ({bundle.name_en}; `{bundle.id}` v{bundle.version})",
             "", f"centre `{centre}`, channel `{channel}`", "", "steps:"]
    lines += [f"{n}. {s.name_zh} ({s.name_en}; `{s.id}`): {s.agency}, {_sla(s)}"
              for n, s in enumerate(bundle.steps, start=1)]
    return "\n".join(lines)


def case_memo(bundle: BundleDefinition, centre: str) -> dict[str, str | int]:
    return {MEMO_BUNDLE: bundle.id, MEMO_BUNDLE_VERSION: bundle.version,
            MEMO_BUNDLE_NAME: bundle.name_zh, MEMO_CENTRE: centre}
