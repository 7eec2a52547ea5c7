"""Whether a deployed fix removed a stuck point, judged by the data.

A stuck point's rate is its events per 100 cases of its bundle. The cases opened before
the fix are compared with the cases opened after it, once enough have run. The test is
the exact conditional test for two Poisson rates: given k = k_before + k_after events,
k_after is Binomial(k, n_after / (n_before + n_after)) if the fix changed nothing, so the
one-sided p-value is P(X <= k_after) under that binomial. A fix is verified when the
rate fell by at least the policy's margin and p < alpha; with enough cases and no such
fall it is not effective, and the item reopens. A verified item reopens by itself when
the cases opened since verification no longer meet the margin.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec


class RateWindow(msgspec.Struct, kw_only=True, frozen=True):
    events: int  # events of the stuck point among the window's cases
    cases: int  # closed cases of the bundle opened in the window

    @property
    def per_100_cases(self) -> float | None:
        return None if self.cases == 0 else 100.0 * self.events / self.cases


class VerificationPolicy(msgspec.Struct, kw_only=True, frozen=True):
    min_cases: int = 30  # cases after the fix before any verdict
    margin: float = 0.5  # the rate must fall by at least this share
    alpha: float = 0.05  # significance of the one-sided rate test

    def describe(self) -> str:
        return (
            f"at least {self.min_cases} cases after the fix; rate per 100 cases down by "
            f"{self.margin:.0%} or more; one-sided exact Poisson rate test, p < {self.alpha}"
        )


Outcome = Literal["not_yet", "verified", "not_effective"]


class Verdict(msgspec.Struct, kw_only=True, frozen=True):
    outcome: Outcome
    before: RateWindow
    after: RateWindow
    reduction: float | None  # share by which the rate fell; negative if it rose
    p_value: float | None
    explanation: str


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space so large n stays exact
    enough without scipy."""
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
        + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def rate_fell_p_value(before: RateWindow, after: RateWindow) -> float:
    """One-sided p-value that the rate after is lower than before."""
    total = before.events + after.events
    if total == 0:
        return 1.0
    share_after = after.cases / (before.cases + after.cases)
    return binomial_cdf(after.events, total, share_after)


def judge(policy: VerificationPolicy, before: RateWindow, after: RateWindow) -> Verdict:
    def verdict(outcome: Outcome, why: str, reduction: float | None = None,
                p: float | None = None) -> Verdict:
        return Verdict(outcome=outcome, before=before, after=after, reduction=reduction,
                       p_value=p, explanation=why)

    if after.cases < policy.min_cases:
        return verdict("not_yet", f"{after.cases} of {policy.min_cases} cases run since the fix")
    if before.cases == 0 or before.events == 0:
        if after.events == 0:
            return verdict("verified", "no friction before or after the fix")
        return verdict("not_effective", "the friction appeared only after the fix")
    before_rate, after_rate = before.per_100_cases, after.per_100_cases
    assert before_rate is not None and after_rate is not None
    reduction = 1.0 - after_rate / before_rate
    p = rate_fell_p_value(before, after)
    rates = f"{before_rate:.1f} -> {after_rate:.1f} per 100 cases ({-reduction:+.0%}), p={p:.3g}"
    if reduction >= policy.margin and p < policy.alpha:
        return verdict("verified", f"rate fell: {rates}", reduction, p)
    return verdict("not_effective", f"rate did not fall enough: {rates}", reduction, p)
