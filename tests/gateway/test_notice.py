"""The one-time notice in words: the clerk's page names a finding's particulars, the
public tracking page only which material fails."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.console.notice import notice_items
from workflows.case import CaseProgress, MaterialView, StepView
from workflows.material_rules import Finding

RULE = "rule:permit-review.lease_valid_on_processing_date"


def progress_with_a_finding() -> CaseProgress:
    lease = MaterialView(name="lease", label_zh="房屋租赁合同", label_en="Lease",
                         status="received_paper", ecert=None)
    finding = Finding(rule="lease_valid_on_processing_date", material="lease",
                      message_zh="租赁合同已于2017-06-30到期（无锡市某某物业）",
                      message_en="The lease ended on 2017-06-30 (Wuxi Some Property)")
    step = StepView(id="permit-review", name_zh="居住证审核", name_en="Permit review",
                    agency="public-security", status="awaiting_clerk", awaiting="clerk",
                    round=0, fields=(), materials=(lease,), missing_fields=(),
                    missing_materials=(), rejections=(), started_at=datetime.now(UTC),
                    due_on=None, finished_at=None, findings=(finding,))
    return CaseProgress(case_id="20260303-ABCDEFGH", bundle="residence-permit",
                        bundle_version=1, status="open", current_step="permit-review",
                        awaiting="clerk", trips=1, steps=(step,), outstanding=(RULE,),
                        friction=(), dossier={}, fields_total=0, fields_prefilled=0)


def test_the_clerk_sees_the_finding_and_the_public_only_the_material() -> None:
    progress = progress_with_a_finding()
    [clerk] = notice_items(progress)
    assert clerk.kind == "rule" and "2017-06-30" in clerk.label_zh
    [public] = notice_items(progress, public=True)
    assert public.code == RULE and public.label_zh.startswith("房屋租赁合同")
    assert "2017" not in public.label_zh + public.label_en
    assert "物业" not in public.label_zh and "Property" not in public.label_en
