"""What the gateway remembers between a clerk's clicks, and when it forgets: a bearer
token's account for a few seconds (at once when this process's book changes), and each
case's home centre (it never changes), a bounded number of them."""

from __future__ import annotations

from friction.sqlite_store import SqliteFrictionStore
from gateway.accounts import Account, AccountBook
from gateway.auth import RecentAccounts
from gateway.centres import CaseAccessLookup
from workflows.case import CaseAccess


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingBook(AccountBook):
    def __init__(self) -> None:
        super().__init__(SqliteFrictionStore(":memory:"))
        self.reads = 0

    def get(self, username: str) -> Account | None:
        self.reads += 1
        return super().get(username)


async def test_an_account_is_read_again_once_stale_or_changed() -> None:
    book, clock = CountingBook(), Clock()
    book.add("clerk-a", "a-long-password", ("clerk",), centres=("liangxi-chongan",))
    recent = RecentAccounts(book, seconds=5.0, clock=clock)
    first = await recent.get("clerk-a")
    assert first is not None and first.lang == "zh"
    assert await recent.get("clerk-a") == first and book.reads == 1
    book.set_lang("clerk-a", "en")  # a change through this process's book: seen at once
    changed = await recent.get("clerk-a")
    assert changed is not None and changed.lang == "en" and book.reads == 2
    clock.now += 5.0  # stale: read again
    await recent.get("clerk-a")
    assert book.reads == 3
    # An unknown account is never remembered.
    assert await recent.get("nobody") is None and await recent.get("nobody") is None
    assert book.reads == 5


async def test_a_case_home_centre_is_remembered_within_bounds() -> None:
    asked: list[str] = []

    async def read(case_id: str) -> CaseAccess:
        asked.append(case_id)
        return CaseAccess(case_id=case_id, centre=f"centre-of-{case_id}")

    lookup = CaseAccessLookup(read, kept=2)
    assert lookup.home_of("A") is None
    assert (await lookup("A")).centre == "centre-of-A" and lookup.home_of("A") == "centre-of-A"
    lookup.remember("B", "binhu-hehu")
    lookup.home_of("A")  # A used last: B is the oldest
    lookup.remember("C", "xinwu-xinan")
    assert lookup.home_of("B") is None and lookup.home_of("A") == "centre-of-A"
    assert asked == ["A"]
