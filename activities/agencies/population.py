"""A synthetic population of Wuxi residents, the people the simulated agencies know.

Everything is invented, but shaped like the real records: identity numbers carry a valid
GB 11643 check digit, the gender matches the sequence code's parity and the household
address lies in the district of the number's region code. The same seed, size and day
always give the same people.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import msgspec

from workflows.definition import LOOKUP_SOURCES
from workflows.fields import id_check_digit

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


def _one(rng: random.Random, today: date, taken: set[str]) -> Citizen:
    region = rng.choice(sorted(_DISTRICTS))
    district, streets = _DISTRICTS[region]
    # Born so that the age today is MIN_AGE..MAX_AGE inclusive.
    earliest = _years_before(today, MAX_AGE + 1) + timedelta(days=1)
    latest = _years_before(today, MIN_AGE)
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


def generate(seed: int, size: int, *, today: date | None = None) -> list[Citizen]:
    """`size` citizens with unique identity numbers; the same arguments give the same people.

    Ages and contribution months are relative to `today` (default: the real today), so the
    records stay plausible whenever the simulator runs.
    """
    rng = random.Random(seed)
    day = today or date.today()
    taken: set[str] = set()
    return [_one(rng, day, taken) for _ in range(size)]


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
    if source in LOOKUP_SOURCES:
        return None  # a source without concepts, such as the e-certificate library
    raise KeyError(f"unknown lookup source {source!r}")
