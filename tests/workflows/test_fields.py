from datetime import date

import pytest

from workflows.definition import FieldSpec
from workflows.fields import check_id_number, check_value, id_check_digit

TODAY = date(2026, 11, 22)


def valid_id(first17: str = "32021119800101123") -> str:
    return first17 + id_check_digit(first17)


def spec(type_: str, options: tuple[str, ...] = ()) -> FieldSpec:
    return FieldSpec(name="f", label_zh="f", label_en="f", type=type_, options=options)  # type: ignore[arg-type]


def test_id_number_check_digit() -> None:
    good = valid_id()
    assert check_id_number(good, TODAY) is None
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert check_id_number(wrong, TODAY) == "has a wrong check digit"
    assert check_id_number("123", TODAY) is not None
    assert "birth date" in (check_id_number(valid_id("32021119801301123"), TODAY) or "")
    assert "future" in (check_id_number(valid_id("32021120301201123"), TODAY) or "")


@pytest.mark.parametrize(
    ("type_", "value", "ok"),
    [
        ("date", "2026-11-01", True),
        ("date", "2027-01-01", False),
        ("date", "01/11/2026", False),
        ("phone", "13912345678", True),
        ("phone", "1391234567", False),
        ("bank_account", "6222020200112233445", True),
        ("bank_account", "62220202", False),
        ("text", " ", False),
        ("text", "x" * 201, False),
    ],
)
def test_values_by_type(type_: str, value: str, ok: bool) -> None:
    assert (check_value(spec(type_), value, TODAY) is None) is ok


def test_unknown_enum_value_names_the_allowed_ones() -> None:
    problem = check_value(spec("enum", ("60%", "100%")), "70%", TODAY)
    assert problem is not None and "60%" in problem
