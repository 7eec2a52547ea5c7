"""The backlog table (from SQLite and PostgreSQL stores) and the `backlog` command."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from friction.backlog import BacklogEntry
from friction.cli import main, render_backlog
from friction.sqlite_store import SqliteFrictionStore
from friction.store.sql import SqlFrictionStore
from friction.stuck_points import StuckPoint
from gateway.names import names_in
from kernel.events import (
    ExtraWait,
    FrictionEvent,
    ManualReentry,
    PiecemealRejection,
    Provenance,
    SearchOnlyEntry,
)

AT = datetime(2025, 3, 3, 9, tzinfo=UTC)


def notebook() -> list[FrictionEvent]:
    events: list[FrictionEvent] = [
        ManualReentry(event_id=f"C{i}/1", occurred_at=AT, case_id=f"C{i}", bundle="hardship",
                      step="insurance", field="bank_account",
                      known_from=Provenance(kind="agency", source="hrss"))
        for i in range(3)
    ]
    events.append(
        ExtraWait(event_id="C0/2", occurred_at=AT, case_id="C0", bundle="hardship",
                  step="registration", scope="agency_call", agency="hrss", sla_seconds=60,
                  actual_seconds=3660)  # 60 + 60 minutes: the top stuck point
    )
    events.append(
        PiecemealRejection(event_id="C1/2", occurred_at=AT, case_id="C1", bundle="hardship",
                           step="insurance", rule="grade_not_allowed", first_rejection_round=1,
                           later_rejection_round=2)
    )
    events.append(
        SearchOnlyEntry(event_id="S/1", occurred_at=AT, bundle="residence", service="permit",
                        entry_path="search")
    )
    return events


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "friction.db"
    store = SqliteFrictionStore(path)
    store.ingest(notebook())
    store.close()
    yield path


@pytest.fixture
def ranked(store: SqlFrictionStore) -> list[StuckPoint]:
    store.ingest(notebook())
    return store.stuck_points()


def test_the_table_ranks_by_burden(ranked: list[StuckPoint]) -> None:
    table = render_backlog(list(reversed(ranked)))  # re-ranked whatever the input order
    header, rule, *rows = table.splitlines()
    assert header.split()[:2] == ["rank", "kind"] and "remedy" in header
    assert set(rule) <= {"-", " "}
    assert len(rows) == 4
    top = rows[0].split()
    assert top[:4] == ["1", "extra_wait", "hardship/registration", "agency_call:hrss"]
    assert top[4:9] == ["1", "1", "60.0", "60.0", "120.0"]
    assert rows[0].endswith("add capacity or change the SLA of registration (calls to hrss)")
    second = rows[1].split()
    assert second[:2] == ["2", "piecemeal_rejection"]
    assert "check rule grade_not_allowed at the first review" in rows[1]
    third = rows[2]
    assert third.split()[:6] == ["3", "manual_reentry", "hardship/insurance", "form", "3", "3"]
    assert "agency:hrss ×3" in third
    assert "link form insurance to the dossier: prefill bank_account from agency:hrss" in third
    assert rows[3].split()[:4] == ["4", "search_only_entry", "residence/-", "permit"]


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_the_table_in_chinese_keeps_columns_aligned(ranked: list[StuckPoint]) -> None:
    zh = names_in("zh")
    header, rule, *rows = render_backlog(ranked, zh).splitlines()
    assert header.startswith("排名") and "整改建议" in header
    # CJK headings take two terminal columns each: every column starts where its rule does.
    starts = [display_width(rule[: i + 1]) for i in range(len(rule) - 1) if rule[i : i + 2] == " -"]
    kind_col = starts[0]
    assert display_width(header[: header.index("类型")]) == kind_col
    kind = zh.name("kind", "extra_wait")
    assert display_width(rows[0][: rows[0].index(kind)]) == kind_col
    remedy_col = starts[-1]
    assert display_width(header[: header.index("整改建议")]) == remedy_col
    remedy = "为registration增加办理力量或调整承诺时限（调用人社系统）"  # a step no bundle has
    assert rows[0].endswith(remedy)
    assert display_width(rows[0][: rows[0].index(remedy)]) == remedy_col
    assert render_backlog([], zh) == "暂无堵点记录。\n"


def test_backlog_command_prints_the_table(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(db), "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert out[0].split()[:3] == ["rank", "status", "kind"]
    assert out[2].split()[1:3] == ["new", "extra_wait"]
    assert out[3].split()[1:3] == ["new", "piecemeal_rejection"]


def test_backlog_command_json_and_bundle_filter(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(db), "--bundle", "residence", "--json"]) == 0
    (entry,) = msgspec.json.decode(capsys.readouterr().out, type=list[BacklogEntry])
    point = entry.point
    assert (entry.rank, entry.item.status) == (1, "new")
    assert point.kind == "search_only_entry"
    assert point.remedy == "add a direct entry for permit"
    assert point.cases == 0 and point.count == 1


def test_backlog_command_defaults_to_the_state_dir(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ONETHING_FRICTION_DB", raising=False)
    monkeypatch.setenv("ONETHING_STATE_DIR", str(db.parent))
    assert main([]) == 0
    assert "extra_wait" in capsys.readouterr().out


def test_backlog_command_without_a_store_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "friction.db"
    assert main(["--db", str(missing)]) == 1
    assert "no friction store" in capsys.readouterr().err
    assert not missing.exists()


def test_an_empty_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    SqliteFrictionStore(tmp_path / "friction.db").close()
    assert main(["--db", str(tmp_path / "friction.db")]) == 0
    assert capsys.readouterr().out == "No stuck points recorded.\n"
