"""Every member's p(alive), expected purchase days and CLV from fitted model parameters.

The closed forms of the BG/NBD model (Fader, Hardie and Lee 2005; p(alive): Fader, Hardie and
Lee 2008) and of the Gamma-Gamma spend model (Fader and Hardie 2013), in numpy. pymc-marketing
fits the parameters (orchestration/clv.py); scoring a million members with them needs neither
pymc nor its three seconds of import, so a day that reuses a fit never loads it. The test
tests/test_clv.py holds these figures equal to pymc-marketing's own predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, hyp2f1

# pymc-marketing's CLV counts a month as 30 days when the history is in days (time_unit "D")
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class PurchaseHistory:
    """Per member: repeat purchase days (x), days from first to last purchase (t_x), days from
    first purchase to the as-of date (T)."""

    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray


def probability_alive(history: PurchaseHistory, bg: dict[str, float]) -> np.ndarray:
    """BG/NBD P(still active): 1 for a member with no repeat purchase."""
    x, t_x, T = history.frequency, history.recency, history.age
    r, alpha, a, b = bg["r"], bg["alpha"], bg["a"], bg["b"]
    log_odds_dead = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    return np.where(x == 0, 1.0, expit(-log_odds_dead))


def expected_purchases(history: PurchaseHistory, bg: dict[str, float], days: float) -> np.ndarray:
    """BG/NBD expected purchase days in the next `days` days (conditional on the history)."""
    x, t_x, T = history.frequency, history.recency, history.age
    r, alpha, a, b = bg["r"], bg["alpha"], bg["a"], bg["b"]
    with np.errstate(divide="ignore", invalid="ignore"):
        horizon = alpha + T + days
        numerator = (1 - ((alpha + T) / horizon) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, days / horizon)) \
            * (a + b + x - 1) / (a - 1)
        denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return numerator / denominator


def expected_spend(frequency: np.ndarray, average_spend: np.ndarray, gg: dict[str, float]) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase day: the member's average shrunk to the population's."""
    p, q, v = gg["p"], gg["q"], gg["v"]
    own_weight = p * frequency / (p * frequency + q - 1)
    population_mean = v * p / (q - 1)
    return (1 - own_weight) * population_mean + own_weight * average_spend


def lifetime_value(history: PurchaseHistory, average_spend: np.ndarray, bg: dict[str, float],
                   gg: dict[str, float], months: int, monthly_discount: float) -> np.ndarray:
    """Discounted value of the next `months` months: each month's expected purchase days times the
    expected spend, discounted by `monthly_discount` per month (undiscounted: one step)."""
    spend = expected_spend(history.frequency, average_spend, gg)
    month_ends = [months] if monthly_discount == 0.0 else range(1, months + 1)
    value, purchases_before = np.zeros(len(spend)), 0.0
    for month in month_ends:
        purchases = expected_purchases(history, bg, month * DAYS_PER_MONTH)
        value = value + spend * (purchases - purchases_before) / (1 + monthly_discount) ** month
        purchases_before = purchases
    return value
