"""The citizen hears of progress through the worker's notifier: a step started, done or
returned for corrections, and how the case ended. Only steps with `notify = true` (and
the case's end, when any step has it) send anything."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.bundle.case_state import CaseState, StepState
from workflows.bundle.mechanism import Mechanism, Outcome

with workflow.unsafe.imports_passed_through():
    from workflows import material_rules, ports
    from workflows.case import Closure, Notification

# What the citizen is told, by event; {name} is the step's or the bundle's name.
NOTICE_TEXT = {
    "step_started": ("您的办件{case}：“{name}”已开始办理。", "Case {case}: {name} has started."),
    "step_approved": ("您的办件{case}：“{name}”已办结。", "Case {case}: {name} is done."),
    "step_rejected": ("您的办件{case}：“{name}”需补正，请查看一次性告知。",
                      "Case {case}: {name} needs corrections; see the one-time notice."),
    "case_completed": ("您的办件{case}（{name}）已全部办结。", "Case {case} ({name}) is complete."),
    "case_failed": ("您的办件{case}（{name}）未能办成，工作人员将联系您。",
                    "Case {case} ({name}) could not be done; staff will contact you."),
    "case_not_eligible": ("您的办件{case}（{name}）不符合办理条件：{rules}。"
                          "办件已终止，符合条件后可重新申请。",
                          "Case {case} ({name}) is closed as not eligible: {rules}. You may "
                          "apply again once you meet them."),
    "case_withdrawn": ("您的办件{case}（{name}）已撤回。", "Case {case} ({name}) is withdrawn."),
    "agency_outage": ("您的办件{case}：“{name}”所需的部门系统暂时无法连接，工作人员正在处理，"
                      "恢复后将自动继续办理，您无需再跑一趟。",
                      "Case {case}: an agency system {name} needs cannot be reached; staff "
                      "are on it and the case goes on by itself once it is back. You need "
                      "not come again."),
}


def notify(
    case: CaseState, event: str, step: StepState | None, rules_zh: str = "", rules_en: str = ""
) -> None:
    case.sequence += 1
    name_zh, name_en = (step.spec.name_zh, step.spec.name_en) if step else (
        case.bundle.name_zh, case.bundle.name_en)
    zh, en = NOTICE_TEXT[event]
    case_id = case.start.case_id
    notification = Notification(
        notification_id=f"{case_id}/n{case.sequence}",
        case_id=case_id,
        at=workflow.now(),
        event=event,  # type: ignore[arg-type]
        step=step.spec.id if step else None,
        text_zh=zh.format(case=case_id, name=name_zh, rules=rules_zh),
        text_en=en.format(case=case_id, name=name_en, rules=rules_en),
    )
    case.notifications.append(notification)
    case.to_deliver.append(notification)


def notify_end(case: CaseState) -> None:
    """How the case ended: closed through an update, or completed or failed."""
    if case.closure is not None:
        # Only a case closed through the updates gets here: no earlier history holds
        # them, so none replays differently.
        notify_closure(case, case.closure)
    elif any(s.spec.notify for s in case.steps):
        notify(case, "case_completed" if case.status == "completed" else "case_failed", None)
    elif case.failure is not None and case.failure.cause != "rejected_too_often":
        # A case that failed of no fault of the citizen's is always told, whatever its
        # steps notify (only cases that wait out outages fail this way: no older history
        # replays differently).
        notify(case, "case_failed", None)


def notify_closure(case: CaseState, closure: Closure) -> None:
    """Tell the citizen how the case ended; the failed rules in their general wording,
    never a finding's particulars (dates, an employer)."""
    if closure.outcome == "withdrawn":
        notify(case, "case_withdrawn", None)
        return
    rules = [material_rules.RULES[f.rule] for f in closure.findings
             if f.rule in material_rules.RULES]
    notify(
        case, "case_not_eligible", None,
        rules_zh="；".join(r.wording_zh.rstrip("。") for r in rules) or "材料不符合要求",
        rules_en="; ".join(r.wording_en.rstrip(".") for r in rules)
        or "a material does not meet the requirements",
    )


async def deliver_notifications(case: CaseState) -> None:
    while True:
        await workflow.wait_condition(lambda: bool(case.to_deliver) or case.closing)
        if not case.to_deliver:
            return
        batch, case.to_deliver = tuple(case.to_deliver), []
        try:
            await workflow.execute_activity(
                ports.NOTIFY_CITIZEN,
                ports.NotificationBatch(notifications=batch),
                start_to_close_timeout=ports.STORE_TIMEOUT,
                retry_policy=ports.NOTIFY_RETRY,
                summary=f"citizen: send {len(batch)} progress messages",
            )
        except ActivityError:
            # Undelivered messages stay in the case's progress for the console and the
            # tracking page; the case goes on.
            workflow.logger.warning("notifications of case %s undelivered", case.start.case_id)


class Notifications(Mechanism):
    def started(self, case: CaseState, step: StepState) -> None:
        if step.spec.notify:
            notify(case, "step_started", step)

    def finished(self, case: CaseState, step: StepState, outcome: Outcome) -> None:
        if step.spec.notify:
            notify(case, outcome, step)
