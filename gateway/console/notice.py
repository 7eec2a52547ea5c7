"""The one-time notice (一次性告知) in words, and the code a citizen tracks a case with.

The workflow states what a case lacks as codes ("material:<step>.<name>"); the notice
names each item with its step, in both languages, so one printed page tells the citizen
everything at once.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

import msgspec

from gateway.auth import derive_key
from workflows.case import CaseProgress
from workflows.material_rules import RULES

CODE_DIGITS = 6


class NoticeItem(msgspec.Struct, kw_only=True, frozen=True):
    code: str  # as the workflow states it, e.g. the reason of a return visit
    kind: Literal["field", "material", "rejection", "rule"]
    step_zh: str
    step_en: str
    label_zh: str
    label_en: str


def notice_items(progress: CaseProgress, public: bool = False) -> list[NoticeItem]:
    """The notice's items; `public` (the tracking page) names a failing material without
    the finding's particulars (an employer, a contract's dates)."""
    steps = {s.id: s for s in progress.steps}
    items: list[NoticeItem] = []
    for code in progress.outstanding:
        kind, _, rest = code.partition(":")
        step_id, _, name = rest.partition(".")
        step = steps.get(step_id)
        if step is None:
            continue
        label: tuple[str, str] | None = None
        if kind == "field":
            label = next(((f.label_zh, f.label_en) for f in step.fields if f.name == name), None)
        elif kind == "material":
            label = next(
                ((m.label_zh, m.label_en) for m in step.materials if m.name == name), None
            )
        elif kind == "rejection":
            label = next(
                ((r.message_zh, r.message_en) for r in step.rejections if r.code == name), None
            )
        elif kind == "rule":  # a material failing a rule as of the processing date
            finding = next((f for f in step.findings if f.rule == name), None)
            material = next((m for m in step.materials
                             if finding is not None and m.name == finding.material), None)
            if finding is not None and public:
                what = ((material.label_zh, material.label_en) if material
                        else ("材料", "A material"))
                label = (f"{what[0]}不符合要求，请按窗口告知补正",
                         f"{what[1]} does not meet the requirements; see the window's notice")
            elif finding is not None:
                label = (finding.message_zh, finding.message_en)
        if label is None:
            continue
        items.append(NoticeItem(code=code, kind=kind, step_zh=step.name_zh, step_en=step.name_en,  # type: ignore[arg-type]
                                label_zh=label[0], label_en=label[1]))
    return items


def tracking_code(secret: bytes, case_id: str) -> str:
    """Six digits printed on the citizen's notice: keyed, so a case number alone (read
    over a shoulder, or guessed) shows nothing."""
    digest = hmac.new(derive_key(secret, "tracking-code"), case_id.encode(), hashlib.sha256)
    return f"{int.from_bytes(digest.digest()[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def code_matches(secret: bytes, case_id: str, code: str) -> bool:
    return hmac.compare_digest(tracking_code(secret, case_id), code.strip())


def closure_rules(progress: CaseProgress) -> list[tuple[str, str]]:
    """The rules a case closed as not eligible failed, in their general wording (zh, en):
    what the citizen is told, without a finding's particulars."""
    if progress.closure is None:
        return []
    return [(RULES[f.rule].wording_zh.rstrip("。"), RULES[f.rule].wording_en.rstrip("."))
            for f in progress.closure.findings if f.rule in RULES]


def closing_options(progress: CaseProgress) -> tuple[bool, bool]:
    """Whether the clerk may close the case now as not eligible, and record a withdrawal:
    as the workflow's validators decide, so the page offers only what would be taken."""
    step = next((s for s in progress.steps if s.id == progress.current_step), None)
    if progress.status != "open" or progress.closure is not None or step is None:
        return False, False
    at_clerk = step.status in ("awaiting_clerk", "rejected")
    failed = bool(step.findings) or any(r.code in RULES for r in step.rejections)
    return at_clerk and failed, at_clerk or step.status == "awaiting_worker"
