"""The demo chooses who applies for a residence permit, and so who is told at once what
they cannot meet today, by design rather than by the day it runs."""

from __future__ import annotations

import random
from datetime import date

import pytest

from deploy.sim.demo import PERMIT, PERMIT_APPLICANTS, applicants
from deploy.sim.population import generate


@pytest.mark.parametrize("today", [date(2026, 12, 7), date(2027, 2, 7), date(2031, 8, 31)])
def test_permit_applicants_come_in_the_stated_standings_on_any_day(today: date) -> None:
    people = generate(seed=3, size=100, today=today)
    chosen = applicants(PERMIT, people, 8, random.Random(1))
    wanted = [PERMIT_APPLICANTS[i % len(PERMIT_APPLICANTS)] for i in range(8)]
    assert [p.residence_standing for p in chosen] == wanted
    assert len({p.id_number for p in chosen}) == 8
    # Half are eligible today; the others fail one stated reason each.
    assert sum(s == "eligible" for s in wanted[:6]) == 3


def test_other_bundles_draw_applicants_at_random() -> None:
    people = generate(seed=3, size=100, today=date(2026, 12, 7))
    chosen = applicants("employment-hardship", people, 6, random.Random(1))
    assert len(chosen) == 6 and set(chosen) <= set(people)
    assert chosen == applicants("employment-hardship", people, 6, random.Random(1))
