"""A synthetic population of Wuxi residents, the people the simulated agencies know.

Everything is invented, but shaped like the real records: identity numbers carry a valid
GB 11643 check digit, the gender matches the sequence code's parity and the household
address lies in the district of the number's region code. The same seed, size and day
always give the same people.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import msgspec

from kernel.china_time import local_date
from workflows.definition import LOOKUP_SOURCES
from workflows.fields import id_check_digit
from workflows.material_rules import (
    VIRTUAL_EMPLOYER_ZH,
    InsuranceLine,
    add_months,
    encode_lines,
    latest_month,
)

# Region code -> (district, streets and towns in it).
_DISTRICTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "320213": ("梁溪区", ("崇安寺街道", "通江街道", "广瑞路街道", "上马墩街道", "江海街道",
                        "广益街道", "南禅寺街道", "清名桥街道", "金星街道", "扬名街道")),
    "320211": ("滨湖区", ("河埒街道", "荣巷街道", "蠡园街道", "蠡湖街道", "华庄街道",
                        "太湖街道", "雪浪街道", "马山街道", "胡埭镇")),
    "320214": ("新吴区", ("旺庄街道", "硕放街道", "江溪街道", "梅村街道", "鸿山街道",
                        "新安街道")),
    "320205": ("锡山区", ("东亭街道", "安镇街道", "东北塘街道", "厚桥街道", "羊尖镇",
                        "鹅湖镇", "锡北镇", "东港镇")),
    "320206": ("惠山区", ("堰桥街道", "长安街道", "钱桥街道", "前洲街道", "玉祁街道",
                        "洛社镇", "阳山镇")),
}
_ROADS = ("中山路", "人民路", "解放路", "学前街", "健康路", "梁溪路", "湖滨路", "太湖大道",
          "蠡湖大道", "长江路", "新华路", "锡沪路", "惠山大道", "钱胡路", "凤宾路", "清扬路",
          "金城路", "县前街")
_VILLAGES = ("新联村", "春星村", "南泉村", "东湖塘村", "张泾村", "前洲村", "石塘湾村",
             "鸿声村", "陆区村", "严家桥村")
_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
             "胡", "郭", "何", "高", "林", "钱", "顾", "沈", "蒋", "华", "秦", "陆", "许", "邹")
_GIVEN_MALE = ("伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "斌", "浩", "建", "国",
               "俊", "峰", "志", "刚", "文", "海")
_GIVEN_FEMALE = ("芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "婷", "雪", "慧",
                 "琳", "萍", "红", "佳", "梅", "颖", "倩")
_EMPLOYER_CORES = ("华泰", "新力", "恒通", "鸿运", "瑞昌", "锡东", "太湖", "蠡园", "梁溪", "宏达",
                   "天元", "永兴", "惠联", "金锡")
_EMPLOYER_TRADES = ("纺织", "机械", "电子科技", "物流", "餐饮管理", "建材", "精密制造", "商贸",
                    "服装", "印染")
_EMPLOYER_FORMS = ("有限公司", "股份有限公司")
_PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "153", "155", "157", "158", "159", "180", "181", "182", "183", "186",
                   "187", "188", "189")
# Bank -> card number prefix (BIN); lengths follow the usual 16 or 19 digits.
_BANKS: dict[str, str] = {
    "中国工商银行": "622202",
    "中国农业银行": "622848",
    "中国银行": "621661",
    "中国建设银行": "621700",
    "交通银行": "622260",
    "江苏银行": "622173",
    "无锡农村商业银行": "623154",
}

MIN_AGE = 25
MAX_AGE = 59
# Residents of 80 and over receive the allowance for the elderly (高龄津贴); the elderly
# part of the population spans both sides of that age.
ALLOWANCE_AGE = 80
ELDERLY_MIN_AGE = 76
ELDERLY_MAX_AGE = 99
RETIREMENT_AGE = 60

# Residence-permit standing of the working-age residents (article 000), by design: which
# applicants fail, and which rules they fail, is chosen here, relative to the processing
# date, whatever day the population is generated on.
RESIDENCE_MIX: dict[str, float] = {
    "eligible": 0.45,  # a year and more at the current employer, latest month paid, lease in force
    "lease_expired": 0.15,  # the registered lease ended 1 to 60 days ago
    "contract_under_a_year": 0.10,  # joined 2 to 11 months ago
    "latest_month_missing": 0.10,  # the employer has not declared the latest month yet
    "left_job": 0.20,  # the contract ended with the last month paid, 1 to 11 months ago
}
# The rules each standing fails on the processing date (workflows.material_rules); a
# resident who left their job may fail more, depending on how long ago.
FAILS: dict[str, frozenset[str]] = {
    "eligible": frozenset(),
    "lease_expired": frozenset({"lease_valid_on_processing_date"}),
    "contract_under_a_year": frozenset({"contract_covers_12_months",
                                        "insurance_covers_12_months"}),
    "latest_month_missing": frozenset({"insurance_includes_latest_month"}),
    "left_job": frozenset({"contract_covers_12_months", "insurance_includes_latest_month"}),
}


class Citizen(msgspec.Struct, kw_only=True, frozen=True):
    id_number: str
    name: str
    gender: str  # "男" or "女", matching the parity of the 17th digit
    birth_date: str  # ISO date
    address: str
    registration_type: str  # "urban" or "rural"
    household_size: str  # "1".."5"
    phone: str
    last_employer: str
    last_contribution_month: str  # "YYYY-MM"
    contribution_months: str
    low_income: bool
    low_income_certificate_no: str | None = None
    bank_account: str | None = None
    bank_name: str | None = None
    certificates: tuple[str, ...] = ()  # e-certificate types held
    # Civil affairs already pays this resident the allowance for the elderly (80+).
    allowance_paid: bool = False
    # Residence permit records (article 000), None where no record is held: the labour
    # contract filed with human resources and social security (no end: open-ended), the
    # month-by-month insurance lines as JSON in the insurance system's own order
    # (workflows.material_rules.InsuranceLine), and the lease registered with the police.
    contract_start: str | None = None
    contract_end: str | None = None
    insurance_lines: str | None = None
    lease_start: str | None = None
    lease_end: str | None = None
    # The simulation's own truth (RESIDENCE_MIX), never an agency's record: what the demo
    # chooses applicants by and the tests check the rules against.
    residence_standing: str | None = None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _month_before(day: date, months: int) -> str:
    index = day.year * 12 + day.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _one(
    rng: random.Random,
    today: date,
    taken: set[str],
    ages: tuple[int, int] = (MIN_AGE, MAX_AGE),
    born: date | None = None,
) -> Citizen:
    region = rng.choice(sorted(_DISTRICTS))
    district, streets = _DISTRICTS[region]
    if born is None:
        # Born so that the age today is ages[0]..ages[1] inclusive.
        earliest = _years_before(today, ages[1] + 1) + timedelta(days=1)
        latest = _years_before(today, ages[0])
        born = date.fromordinal(rng.randint(earliest.toordinal(), latest.toordinal()))
    while True:
        first17 = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
        id_number = first17 + id_check_digit(first17)
        if id_number not in taken:
            taken.add(id_number)
            break
    male = int(id_number[16]) % 2 == 1
    given = _GIVEN_MALE if male else _GIVEN_FEMALE
    name = rng.choice(_SURNAMES) + "".join(rng.choice(given) for _ in range(rng.randint(1, 2)))

    street = rng.choice(streets)
    rural = rng.random() < (0.5 if street.endswith("镇") else 0.15)
    if rural:
        place = f"{rng.choice(_VILLAGES)}{rng.randint(1, 12)}组{rng.randint(1, 80)}号"
    else:
        place = (f"{rng.choice(_ROADS)}{rng.randint(1, 400)}号"
                 f"{rng.randint(1, 6)}单元{rng.randint(1, 18)}{rng.randint(1, 4):02d}室")

    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    low_income = rng.random() < 0.2
    has_bank = rng.random() < 0.9
    bank_name = rng.choice(sorted(_BANKS)) if has_bank else None
    bank_account = None
    if bank_name is not None:
        prefix = _BANKS[bank_name]
        bank_account = prefix + _digits(rng, rng.choice((16, 19)) - len(prefix))
    certificates: tuple[str, ...] = ()
    if rng.random() < 0.75:
        certificates = ("resident_id_card", "household_register")
    if low_income:
        certificates += ("low_income_certificate",)

    return Citizen(
        id_number=id_number,
        name=name,
        gender="男" if male else "女",
        birth_date=born.isoformat(),
        address=f"无锡市{district}{street}{place}",
        registration_type="rural" if rural else "urban",
        household_size=str(rng.randint(1, 5)),
        phone=rng.choice(_PHONE_PREFIXES) + _digits(rng, 8),
        last_employer=(f"无锡{rng.choice(_EMPLOYER_CORES)}{rng.choice(_EMPLOYER_TRADES)}"
                       f"{rng.choice(_EMPLOYER_FORMS)}"),
        last_contribution_month=_month_before(today, rng.randint(1, 12)),
        contribution_months=str(rng.randint(6, (age - 18) * 12)),
        low_income=low_income,
        low_income_certificate_no=(
            f"{region}DB{today.year - rng.randint(0, 3)}{_digits(rng, 6)}" if low_income else None
        ),
        bank_account=bank_account,
        bank_name=bank_name,
        certificates=certificates,
    )


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _month_end(day: date) -> date:
    first_of_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def _elderly(rng: random.Random, today: date, taken: set[str], count: int) -> list[Citizen]:
    """Retired residents aged ELDERLY_MIN_AGE..ELDERLY_MAX_AGE. The first two sit on the
    allowance's edge: one turns 80 on the last day of this month, one on the first day of
    the next. Some of those already 81 or more are paid the allowance; nobody younger."""
    month_end = _month_end(today)
    edges = [_years_before(month_end, ALLOWANCE_AGE),
             _years_before(month_end + timedelta(days=1), ALLOWANCE_AGE)]
    people = []
    for i in range(count):
        person = _one(rng, today, taken, (ELDERLY_MIN_AGE, ELDERLY_MAX_AGE),
                      born=edges[i] if i < len(edges) else None)
        born = date.fromisoformat(person.birth_date)
        people.append(msgspec.structs.replace(
            person,
            last_contribution_month=f"{born.year + RETIREMENT_AGE:04d}-{born.month:02d}",
            contribution_months=str(rng.randint(120, (RETIREMENT_AGE - 18) * 12)),
            allowance_paid=_age(born, today) > ALLOWANCE_AGE and rng.random() < 0.5,
        ))
    return people


def generate(
    seed: int, size: int, *, today: date | None = None, elderly: int = 0
) -> list[Citizen]:
    """`size` working-age citizens with unique identity numbers, then `elderly` retired
    ones (76 to 99, around the allowance's age of 80); the same arguments give the same
    people, and adding elderly ones leaves the working-age ones as they were.

    Ages, contracts, insurance months and leases are relative to `today`, the processing
    date (default: today's date in China, where the agencies are; tests pass a fixed day),
    so the records stay plausible, and the same ones fail the same rules, whenever it runs.
    """
    rng = random.Random(seed)
    day = today or local_date(datetime.now(UTC))
    taken: set[str] = set()
    people = [_with_work_and_lease(_one(rng, day, taken), day) for _ in range(size)]
    if elderly:
        people += _elderly(random.Random(f"elderly/{seed}"), day, taken, elderly)
    return people


def _month_start(month: str) -> date:
    return date.fromisoformat(f"{month}-01")


def work_and_lease(
    citizen: Citizen,
    *,
    contract_start: date,
    contract_end: date | None,
    employer_code: str,
    latest_insured_not_credited: bool,
    transferred_months: int,
    lease: tuple[date, date] | None,
) -> Citizen:
    """The citizen with a labour contract at their last employer from contract_start,
    insurance lines from its month to their last contribution month (that one insured but
    not yet credited when latest_insured_not_credited), `transferred_months` earlier months
    transferred in from another city's fund and listed last under a transferred virtual
    employer, as the insurance system lists them, and a registered lease (start, end)."""
    first = contract_start.year * 12 + contract_start.month - 1
    last_month = _month_start(citizen.last_contribution_month)
    last = last_month.year * 12 + last_month.month - 1

    def month(index: int) -> str:
        return f"{index // 12:04d}-{index % 12 + 1:02d}"

    lines = [
        InsuranceLine(
            month=month(i),
            employer=citizen.last_employer,
            employer_code=employer_code,
            status="insured_not_credited"
            if latest_insured_not_credited and i == last
            else "credited",
        )
        for i in range(first, last + 1)
    ]
    lines += [
        InsuranceLine(month=month(i), employer=VIRTUAL_EMPLOYER_ZH,
                      employer_code=f"ZY{employer_code[-8:]}", status="credited",
                      transferred_virtual=True)
        for i in range(first - transferred_months, first)
    ]
    return msgspec.structs.replace(
        citizen,
        contract_start=contract_start.isoformat(),
        contract_end=contract_end.isoformat() if contract_end else None,
        insurance_lines=encode_lines(lines),
        lease_start=lease[0].isoformat() if lease else None,
        lease_end=lease[1].isoformat() if lease else None,
    )


def _with_work_and_lease(citizen: Citizen, today: date) -> Citizen:
    """Work and lease records of the citizen's standing (RESIDENCE_MIX), drawn from the
    citizen's own seed so the shared draws stay as they were, and dated back from `today`
    so that the standing, not the calendar, decides which rules fail."""
    rng = random.Random(f"work/{citizen.id_number}")
    standing = rng.choices(list(RESIDENCE_MIX), weights=list(RESIDENCE_MIX.values()))[0]
    latest = _month_start(latest_month(today))

    def days_ago(low: int, high: int) -> date:
        return today - timedelta(days=rng.randint(low, high))

    def lease_in_force() -> tuple[date, date]:
        start = days_ago(30, 330)  # a one-year lease signed within the last eleven months
        return start, add_months(start, 12) - timedelta(days=1)

    lease: tuple[date, date] | None = lease_in_force()
    end: date | None = today + timedelta(days=rng.randint(30, 900)) if rng.random() < 0.8 else None
    match standing:
        case "eligible" | "latest_month_missing":
            last = latest if standing == "eligible" else add_months(latest, -1)
            start = add_months(today, -rng.randint(13, 71))
        case "lease_expired":
            last, start = latest, add_months(today, -rng.randint(13, 71))
            lease_end = days_ago(1, 60)
            lease = (add_months(lease_end + timedelta(days=1), -12), lease_end)
        case "contract_under_a_year":
            last, start = latest, add_months(today, -rng.randint(2, 11))
        case _:  # left_job: the contract ended with the last month paid, months ago
            last = add_months(latest, -rng.randint(1, 11))
            start = add_months(last, -rng.randint(2, 71))
            end = add_months(last, 1) - timedelta(days=1)
            lease = lease_in_force() if rng.random() < 0.5 else None
    return msgspec.structs.replace(work_and_lease(
        msgspec.structs.replace(citizen, last_contribution_month=f"{last:%Y-%m}"),
        contract_start=start.replace(day=min(start.day, 28)),
        contract_end=end,
        employer_code=f"91320{_digits(rng, 12)}X",
        # Declared but not yet booked: it still counts while the processing date lies in
        # the month after it, which the latest month always does.
        latest_insured_not_credited=last == latest and rng.random() < 0.5,
        transferred_months=rng.randint(6, 36) if rng.random() < 0.25 else 0,
        lease=lease,
    ), residence_standing=standing)


def allowance_due(citizen: Citizen, month: str) -> bool:
    """Whether household data make the citizen eligible for the allowance in `month`
    (YYYY-MM): 80 or over on some day of the month, i.e. born in or before that month
    80 years earlier. Whether it is paid already is the civil affairs' record, not this."""
    year, mon = (int(part) for part in month.split("-"))
    born = date.fromisoformat(citizen.birth_date)
    return (born.year, born.month) <= (year - ALLOWANCE_AGE, mon)


def lookup_values(citizen: Citizen, source: str) -> dict[str, str] | None:
    """What an agency's lookup source holds about a citizen, by dossier concept; None when
    the source has no record of them. Keys are those LOOKUP_SOURCES lists for the source."""
    match source:
        case "identity":
            return {
                "identity.name": citizen.name,
                "identity.id_number": citizen.id_number,
                "identity.gender": citizen.gender,
                "identity.birth_date": citizen.birth_date,
            }
        case "household":
            return {
                "household.address": citizen.address,
                "household.registration_type": citizen.registration_type,
                "household.size": citizen.household_size,
            }
        case "insurance_history":
            return {
                "insurance.last_employer": citizen.last_employer,
                "insurance.last_contribution_month": citizen.last_contribution_month,
                "insurance.contribution_months": citizen.contribution_months,
                "contact.phone": citizen.phone,
            }
        case "low_income":
            values = {"civil.low_income": "yes" if citizen.low_income else "no"}
            if citizen.low_income and citizen.low_income_certificate_no is not None:
                values["civil.low_income_certificate_no"] = citizen.low_income_certificate_no
            return values
        case "bank_account":
            if citizen.bank_account is None or citizen.bank_name is None:
                return None
            return {"bank.account": citizen.bank_account, "bank.name": citizen.bank_name}
        case "employment_contract":
            if citizen.contract_start is None:
                return None
            contract = {
                "employment.contract_employer": citizen.last_employer,
                "employment.contract_start": citizen.contract_start,
            }
            if citizen.contract_end is not None:
                contract["employment.contract_end"] = citizen.contract_end
            return contract
        case "insurance_lines":
            if citizen.insurance_lines is None:
                return None
            return {"insurance.lines": citizen.insurance_lines}
        case "lease":
            if citizen.lease_start is None or citizen.lease_end is None:
                return None
            return {
                "housing.lease_address": citizen.address,
                "housing.lease_start": citizen.lease_start,
                "housing.lease_end": citizen.lease_end,
            }
    if source in LOOKUP_SOURCES:
        return None  # a source without concepts, such as the e-certificate library
    raise KeyError(f"unknown lookup source {source!r}")
