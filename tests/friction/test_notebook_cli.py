"""`onething notebook ...` (and `onething backlog`): report, transition and export-ocel
from a terminal, on the embedded SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from deploy.cli import main as onething
from friction.cli import main
from friction.reports import Report
from friction.sqlite_store import SqliteFrictionStore
from kernel.events import CaseRecord, ManualReentry, Provenance

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
BUNDLE = "employment-hardship"
FORM = "flexible-insurance-enrollment"
FORM_POINT = f"manual_reentry|{BUNDLE}|{FORM}|form"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "friction.db"
    store = SqliteFrictionStore(path)
    try:
        for i in range(6):
            case_id = f"C{i}"
            store.upsert_case(CaseRecord(
                case_id=case_id, bundle=BUNDLE, bundle_version=1,
                centre="liangxi-chongan" if i < 5 else "binhu-hehu", channel="window",
                status="completed", opened_at=T0 + timedelta(hours=i),
                closed_at=T0 + timedelta(hours=i, minutes=30), fields_total=10,
                fields_prefilled=9, working_days=0, clerk_minutes=12.0,
            ))
            store.ingest([ManualReentry(
                event_id=f"{case_id}/1", occurred_at=T0 + timedelta(hours=i), case_id=case_id,
                bundle=BUNDLE, step=FORM, field="phone",
                known_from=Provenance(kind="agency", source="public-security"))])
    finally:
        store.close()
    return path


def test_report_withholds_small_centres(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(db), "--group-by", "centre", "--since", "2026-03-01",
                 "--until", "2026-03-03"]) == 0
    header, binhu, liangxi = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["group", "cases", "done"]
    assert binhu.split() == ["binhu-hehu", "<5"]
    assert liangxi.split()[:4] == ["liangxi-chongan", "5", "100%", "100%"]
    assert "90%" in liangxi and "✓" not in liangxi  # 90% prefilled is short of 92%

    assert main(["report", "--db", str(db), "--json", "--min-group", "1"]) == 0
    report = msgspec.json.decode(capsys.readouterr().out, type=Report)
    assert (report.group_by, report.rows[0].cases, report.min_group) == ("bundle", 6, 1)

    with pytest.raises(SystemExit):
        main(["report", "--db", str(db), "--since", "2026-03-01T09:00"])  # no offset
    assert "offset" in capsys.readouterr().err


def test_transition_moves_an_item_and_says_why_not(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transition", FORM_POINT, "--db", str(db), "--to", "triaged",
                 "--reason", "top of the list", "--owner", "platform-team",
                 "--actor", "lead"]) == 0
    assert capsys.readouterr().out.strip() == f"{FORM_POINT}: new -> triaged"
    assert main(["transition", FORM_POINT, "--db", str(db), "--to", "fix_deployed",
                 "--reason", "released"]) == 2
    assert "fix_description: say what was deployed" in capsys.readouterr().err
    assert main(["transition", FORM_POINT, "--db", str(db), "--to", "fix_deployed",
                 "--reason", "released", "--fix", "v2 links the form", "--json"]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert moved["item"]["status"] == "fix_deployed"
    assert main(["transition", "manual_reentry|x|y|form", "--db", str(db), "--to", "triaged",
                 "--reason", "r", "--owner", "o"]) == 1
    assert "no stuck point" in capsys.readouterr().err

    assert onething(["backlog", "--db", str(db)]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert row.split()[1:4] == ["fix_deployed", "(platform-team)", "manual_reentry"]


def test_export_ocel_writes_the_event_log(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "log.jsonocel"
    assert onething(["notebook", "export-ocel", str(out), "--db", str(db),
                     "--since", "2026-03-02"]) == 0
    log = json.loads(out.read_bytes())
    assert {e["type"] for e in log["events"]} == {"case_opened", "case_closed",
                                                  "manual_reentry"}
    assert len([o for o in log["objects"] if o["type"] == "case"]) == 6
    assert capsys.readouterr().err.strip() == "6 objects, 18 events"


def run_onething(*args: str) -> str:
    """The installed `onething` command, for real, in its own process."""
    done = subprocess.run([str(Path(sys.executable).parent / "onething"), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_backlog_and_the_report_in_chinese_name_everything(db: Path) -> None:
    zh = run_onething("backlog", "--db", str(db), "--lang", "zh")
    header, _, row = zh.splitlines()
    assert header.split()[:3] == ["排名", "状态", "类型"] and "整改建议" in header
    # Kind, status, bundle and step, subject, source and remedy by name, not by id.
    for words in ("新发现", "已有信息重复录入", "就业困难认定和补贴一件事/灵活就业人员参保", "表单",
                  "部门数据：公安 ×6",
                  "将“灵活就业人员参保”表单与档案关联：从部门数据：公安自动带出联系电话"):
        assert words in row, (words, row)
    for raw in ("manual_reentry", BUNDLE, FORM, "public-security", "phone", "new"):
        assert raw not in zh, raw
    # English names are a flag away; without one, the notebook's ids as scripts read them.
    en = run_onething("backlog", "--db", str(db), "--lang", "en")
    assert "Typed again although known" in en and "Flexible-employment insurance" in en
    assert "manual_reentry" in run_onething("backlog", "--db", str(db))

    report = run_onething("notebook", "report", "--db", str(db), "--group-by", "centre",
                          "--lang", "zh", "--since", "2026-03-01")
    header, binhu, liangxi = report.splitlines()
    assert header.split()[:3] == ["分组", "件数", "办结率"]
    assert binhu.split() == ["滨湖区河埒街道便民服务中心", "<5"]
    assert liangxi.startswith("梁溪区崇安街道便民服务中心")
