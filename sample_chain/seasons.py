"""The chain's calendar: how busy a day is relative to an ordinary one.

A cosmetics/accessories chain peaks on shopping festivals (11-11 above all),
before Chinese New Year, on Women's Day and at weekends; it is quiet over the
New Year holidays themselves. The factors only shape volume, so they are
rough on purpose.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

# Chinese New Year (Spring Festival) day, by Gregorian year.
_CNY = {
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25),
    2021: date(2021, 2, 12), 2022: date(2022, 2, 1), 2023: date(2023, 1, 22),
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11),
    2033: date(2033, 1, 31), 2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}

# Monday .. Sunday.
_WEEKDAY = (0.85, 0.85, 0.9, 0.95, 1.1, 1.35, 1.3)

# (month, day) -> factor of fixed-date festivals.
_FESTIVALS = {
    (3, 7): 1.4, (3, 8): 1.8,  # 女神节
    (5, 20): 1.3,  # 520
    (6, 17): 1.3, (6, 18): 1.6,  # 618
    (11, 10): 1.6, (11, 11): 2.6, (11, 12): 1.4,  # 双十一
    (12, 12): 1.6,  # 双十二
    (12, 24): 1.4, (12, 25): 1.3,
}


def _cny(year: int) -> date:
    # Outside the table the festival still falls in late Jan / mid Feb.
    return _CNY.get(year, date(year, 2, 5))


def day_factor(day: date) -> float:
    """Relative traffic of `day` (about 1 on an ordinary weekday)."""
    f = _WEEKDAY[day.weekday()]
    f *= _FESTIVALS.get((day.month, day.day), 1.0)
    if day.month == 11 and day.day < 10:
        f *= 1.15  # the run-up to 11-11
    cny = _cny(day.year if day.month < 6 else day.year + 1)
    delta = (day - cny).days
    if -21 <= delta < -1:
        f *= 1.35  # New Year shopping
    elif -1 <= delta <= 3:
        f *= 0.55  # families at home
    elif 3 < delta <= 7:
        f *= 0.8
    return f


def day_factors(start: date, days: int) -> np.ndarray:
    return np.array([day_factor(start + timedelta(days=i)) for i in range(days)])
