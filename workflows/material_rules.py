"""Material rules: whether a material is valid, judged as of the day of processing (办理当日).

A residence permit by stable employment (居住证, article 000) needs a labour contract
showing a year of continuous work, the matching social insurance proof including the
latest month, and a valid lease. One applicant made three trips because each visit named
one more deficiency, judged against whatever day the printout or the lease was made.
These rules state the requirements once, as pure functions of the facts a case holds and
of the processing date, so that:

- every material is judged as of the processing date (China time), never as of the day
  a document was printed or a record was read;
- all of a step's rules run at once at every review, and every failing rule is named
  together (一次性告知);
- a later rejection naming a rule that the facts of an earlier rejection already failed
  is known to be piecemeal.

The facts are dossier concepts (what the agencies' records hold: the labour contract
filed with human resources and social security, the month-by-month insurance lines, the
lease registered with the police), overlaid by what the clerk read off a paper the
citizen brought. A rule whose facts the case does not hold at all says nothing: the
notice then already asks for the field or the material it would read.

Insurance lines, in the domain's words:

- The current employer is the employer of the latest month that counts, found by month
  and never by the line's position. A "transferred virtual employer" line (转移虚拟单位:
  months transferred in from another city's fund) is never the current employer: the
  insurance system always sorts it last and nobody can reorder it, so the last line of a
  printout is not the current employer.
- Insured but not yet credited (已参保未到账): the employer has declared the month's
  contribution and the fund has not booked it yet. A month's contribution is booked
  within the following month, so while the processing date lies in the month after it
  (or in the month itself) an insured-but-not-credited month counts as paid. A month
  still not credited after that does not count (the employer is in arrears).
- The latest month is the calendar month before the processing date's month: on 1 June
  the proof must include May.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Literal

import msgspec

from kernel.china_time import month_of

# Dossier concepts the rules read.
CONTRACT_EMPLOYER = "employment.contract_employer"
CONTRACT_START = "employment.contract_start"
CONTRACT_END = "employment.contract_end"  # absent for an open-ended contract
INSURANCE_LINES = "insurance.lines"  # JSON: a list of InsuranceLine
LEASE_START = "housing.lease_start"
LEASE_END = "housing.lease_end"

InsuranceStatus = Literal["credited", "insured_not_credited"]

# How many months after a month its contribution may still be waiting to be credited.
CREDITING_WINDOW_MONTHS = 1
CONTINUOUS_MONTHS = 12

VIRTUAL_EMPLOYER_ZH = "转移虚拟单位"

CREDITING_RULE_ZH = (
    "已参保未到账：单位已申报当月社保、基金尚未记账。当月缴费在次月内记账，办理日在该月或其次月时，"
    "已参保未到账的月份视同已缴费；超过记账期仍未到账的月份不计入。"
)
CREDITING_RULE_EN = (
    "Insured but not yet credited: the employer has declared the month and the fund has not "
    "booked it yet. A month's contribution is booked within the following month, so while "
    "the processing date lies in that month or the next, an insured-but-not-credited month "
    "counts as paid; a month still not credited after that does not count."
)


class InsuranceLine(msgspec.Struct, kw_only=True, frozen=True):
    """One month of one employer's contributions, as the insurance system lists it."""

    month: str  # YYYY-MM
    employer: str
    employer_code: str
    status: InsuranceStatus
    # 转移虚拟单位: months transferred in from another city's fund; always listed last.
    transferred_virtual: bool = False


class Finding(msgspec.Struct, kw_only=True, frozen=True):
    """A rule a material fails as of the processing date, in words for the notice."""

    rule: str
    message_zh: str
    message_en: str
    material: str | None = None  # the material whose rule it is, set by the case


Facts = Mapping[str, str]
Check = Callable[[Facts, date], Finding | None]


class Rule(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    reads: tuple[str, ...]  # the concepts it judges
    wording_zh: str  # the requirement as stated to citizens and clerks
    wording_en: str


# -- months and dates ----------------------------------------------------------------------


def _month_index(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def latest_month(processing_date: date) -> str:
    """The month the proof must include: the calendar month before the processing date's."""
    return _month_name(_month_index(month_of(processing_date)) - 1)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day where it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - every month has a 28th


def _date(facts: Facts, concept: str) -> date | None:
    value = facts.get(concept, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# -- insurance lines -----------------------------------------------------------------------

_LINES = msgspec.json.Decoder(list[InsuranceLine])


def encode_lines(lines: list[InsuranceLine] | tuple[InsuranceLine, ...]) -> str:
    return msgspec.json.encode(list(lines)).decode()


def decode_lines(value: str) -> list[InsuranceLine] | None:
    try:
        return _LINES.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def counts(line: InsuranceLine, processing_date: date) -> bool:
    """Whether a month counts as paid on the processing date: credited, or insured but
    not yet credited within its crediting window (CREDITING_RULE_EN)."""
    if line.status == "credited":
        return True
    waited = _month_index(month_of(processing_date)) - _month_index(line.month)
    return waited <= CREDITING_WINDOW_MONTHS


def counted_months(lines: list[InsuranceLine], processing_date: date) -> dict[str, str]:
    """Month -> employer of every month that counts, transferred virtual lines left out
    (they are earlier months from another city, whatever their place in the list)."""
    months: dict[str, str] = {}
    for line in lines:
        if not line.transferred_virtual and counts(line, processing_date):
            months.setdefault(line.month, line.employer)
    return months


def current_employer(lines: list[InsuranceLine], processing_date: date) -> str | None:
    """The employer of the latest month that counts, by month, never by position."""
    months = counted_months(lines, processing_date)
    return months[max(months, key=_month_index)] if months else None


# -- the rules -----------------------------------------------------------------------------


def _contract_covers_12_months(facts: Facts, on: date) -> Finding | None:
    start = _date(facts, CONTRACT_START)
    if start is None:
        return None
    end = _date(facts, CONTRACT_END)
    if end is not None and end < on:
        return _finding(
            "contract_covers_12_months",
            f"劳动合同已于{end.isoformat()}到期，办理日{on.isoformat()}不在合同期内",
            f"The labour contract ended on {end.isoformat()}, before the processing date "
            f"{on.isoformat()}",
        )
    if add_months(start, CONTINUOUS_MONTHS) > on:
        return _finding(
            "contract_covers_12_months",
            f"劳动合同自{start.isoformat()}起，至办理日{on.isoformat()}连续工作未满一年",
            f"The labour contract starts on {start.isoformat()}: less than a year of continuous "
            f"work by the processing date {on.isoformat()}",
        )
    return None


def _insurance_matches_contract_employer(facts: Facts, on: date) -> Finding | None:
    lines = decode_lines(facts.get(INSURANCE_LINES, ""))
    employer = facts.get(CONTRACT_EMPLOYER, "").strip()
    if lines is None or not employer:
        return None
    current = current_employer(lines, on)
    if current == employer:
        return None
    shown = current or "无"
    return _finding(
        "insurance_matches_contract_employer",
        f"社保证明的当前参保单位（{shown}）与劳动合同单位（{employer}）不一致",
        f"The current employer on the insurance record ({current or 'none'}) is not the "
        f"contract's employer ({employer})",
    )


def _insurance_covers_12_months(facts: Facts, on: date) -> Finding | None:
    """The eleven months before the latest month, with the contract's employer; the
    latest month itself is insurance_includes_latest_month's, so one gap is named once."""
    lines = decode_lines(facts.get(INSURANCE_LINES, ""))
    if lines is None:
        return None
    months = counted_months(lines, on)
    employer = facts.get(CONTRACT_EMPLOYER, "").strip() or current_employer(lines, on)
    latest = _month_index(latest_month(on))
    lacking = [
        _month_name(i)
        for i in range(latest - CONTINUOUS_MONTHS + 1, latest)
        if months.get(_month_name(i)) != employer
    ]
    if not lacking:
        return None
    listed = "、".join(lacking)
    return _finding(
        "insurance_covers_12_months",
        f"社保证明截至最近一个月未连续缴费满12个月，缺少：{listed}",
        f"The insurance record lacks a year of continuous contributions by the contract's "
        f"employer up to the latest month; missing: {', '.join(lacking)}",
    )


def _insurance_includes_latest_month(facts: Facts, on: date) -> Finding | None:
    lines = decode_lines(facts.get(INSURANCE_LINES, ""))
    if lines is None:
        return None
    latest = latest_month(on)
    if latest in counted_months(lines, on):
        return None
    return _finding(
        "insurance_includes_latest_month",
        f"办理日为{on.isoformat()}，社保证明须含最近一个月（{latest}）的参保记录",
        f"Processed on {on.isoformat()}, the insurance proof must include the latest month "
        f"({latest})",
    )


def _lease_valid_on_processing_date(facts: Facts, on: date) -> Finding | None:
    start, end = _date(facts, LEASE_START), _date(facts, LEASE_END)
    if start is None and end is None:
        return None
    if end is not None and end < on:
        return _finding(
            "lease_valid_on_processing_date",
            f"租赁合同已于{end.isoformat()}到期，请提供办理日{on.isoformat()}有效的租赁合同",
            f"The lease expired on {end.isoformat()}; bring a lease valid on the processing "
            f"date {on.isoformat()}",
        )
    if start is not None and start > on:
        return _finding(
            "lease_valid_on_processing_date",
            f"租赁合同自{start.isoformat()}起生效，办理日{on.isoformat()}尚未生效",
            f"The lease starts on {start.isoformat()}, after the processing date "
            f"{on.isoformat()}",
        )
    return None


def _finding(rule: str, zh: str, en: str) -> Finding:
    return Finding(rule=rule, message_zh=zh, message_en=en)


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            name="contract_covers_12_months",
            reads=(CONTRACT_START, CONTRACT_END),
            wording_zh="劳动合同在办理当日有效，且自合同起始日至办理当日连续工作满一年",
            wording_en="The labour contract is in force on the processing date and shows a "
            "year of continuous work from its start to the processing date",
        ),
        Rule(
            name="insurance_matches_contract_employer",
            reads=(INSURANCE_LINES, CONTRACT_EMPLOYER),
            wording_zh="社保证明的当前参保单位（按月份认定最近计入的月份，不按排列位置；“转移虚拟单位”"
            "不是当前单位）与劳动合同单位一致",
            wording_en="The current employer on the insurance record (the employer of the "
            "latest month that counts, by month and not by position; a transferred virtual "
            "employer line is never the current employer) is the contract's employer",
        ),
        Rule(
            name="insurance_covers_12_months",
            reads=(INSURANCE_LINES, CONTRACT_EMPLOYER),
            wording_zh="社保证明显示劳动合同单位截至最近一个月连续缴费满12个月。"
            + CREDITING_RULE_ZH,
            wording_en="The insurance record shows twelve continuous months of contributions "
            "by the contract's employer up to the latest month. " + CREDITING_RULE_EN,
        ),
        Rule(
            name="insurance_includes_latest_month",
            reads=(INSURANCE_LINES,),
            wording_zh="社保证明含最近一个月（办理日所在月的上一个月）的参保记录。"
            + CREDITING_RULE_ZH,
            wording_en="The insurance proof includes the latest month (the month before the "
            "processing date's month). " + CREDITING_RULE_EN,
        ),
        Rule(
            name="lease_valid_on_processing_date",
            reads=(LEASE_START, LEASE_END),
            wording_zh="租赁合同在办理当日处于有效期内",
            wording_en="The lease is in force on the processing date",
        ),
    )
}

_CHECKS: dict[str, Check] = {
    "contract_covers_12_months": _contract_covers_12_months,
    "insurance_matches_contract_employer": _insurance_matches_contract_employer,
    "insurance_covers_12_months": _insurance_covers_12_months,
    "insurance_includes_latest_month": _insurance_includes_latest_month,
    "lease_valid_on_processing_date": _lease_valid_on_processing_date,
}


def check(rule: str, facts: Facts, processing_date: date) -> Finding | None:
    """One rule on the facts as of the processing date; None when it holds."""
    return _CHECKS[rule](facts, processing_date)


def review(
    rules: tuple[tuple[str, str | None], ...], facts: Facts, processing_date: date
) -> tuple[Finding, ...]:
    """Every (rule, material) at once: the findings of all that fail, in the given order."""
    findings: list[Finding] = []
    for rule, material in rules:
        found = check(rule, facts, processing_date)
        if found is not None:
            findings.append(msgspec.structs.replace(found, material=material))
    return tuple(findings)
