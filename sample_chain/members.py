"""The member population: who they are, when they join, cancel or lapse, and
the daily member files (joins and updates) that describe them.

Members are numbered in join order, so member_id M0000001 is the oldest card
and each day's joiners are one contiguous index range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from . import people
from .chain import CATEGORIES, CATEGORY_NAMES, NEVER, Stores
from .writer import bool_text, clock_text, day_text

EXISTING_SHARE = 0.6  # members already carded at `start`
HISTORY_DAYS = 3 * 365  # existing members joined within this many days before start
CANCEL_SHARE = 0.03
LAPSE_SHARE = 0.15
ONE_OFF_SHARE = 0.003
UPDATE_RATE = 0.12 / 365  # per member and day: activation / consent / mobile changes
CHUNK = 100_000  # rows per write of the big first members file

MEMBER_COLUMNS = (
    "member_id", "card_no", "name", "gender", "birth_date", "mobile", "city", "address",
    "join_date", "join_store_id", "enrolled_by", "activated", "status",
    "marketing_consent", "bonus_category", "updated_at",
)


@dataclass
class Members:
    start_epoch: int  # epoch day of `start`
    days: int
    existing: int  # members 0..existing-1 were carded before start
    card: np.ndarray  # int64 13-digit card numbers
    gender: np.ndarray
    name: np.ndarray
    birth: np.ndarray  # epoch days
    mobile: np.ndarray  # 0 = none; changes over time
    city: np.ndarray
    address: np.ndarray
    join_day: np.ndarray  # offset from start (negative: before the period)
    join_sec: np.ndarray  # time of day of enrolment
    join_store: np.ndarray
    staff: np.ndarray
    activated: np.ndarray  # changes over time (only false -> true)
    consent: np.ndarray  # changes over time
    bonus: np.ndarray  # category index, -1 none
    cancel_day: np.ndarray  # offset of the cancellation day, NEVER if none
    stop_day: np.ndarray  # first day without shopping: min(cancel, lapse)
    oneoff_day: np.ndarray  # offset of the single big purchase, -1 for ordinary members
    propensity: np.ndarray  # relative visit frequency (heavy-tailed)
    basket: np.ndarray  # mean lines per visit (heavy-tailed)
    stores: Stores
    seed: int

    def __len__(self) -> int:
        return len(self.card)

    # ---- rows -------------------------------------------------------------------

    def rows(self, idx: np.ndarray, updated_at: np.ndarray, cancelled: bool) -> pl.DataFrame:
        """Member file rows for members `idx` in their current state.

        `updated_at` is in epoch seconds; `cancelled` gives the status column.
        """
        idx = np.asarray(idx, dtype=np.int64)
        st = self.stores
        store = self.join_store[idx]
        bonus = self.bonus[idx]
        raw = pl.DataFrame(
            {
                "i": idx + 1,
                "card": self.card[idx],
                "name": people.name_text(self.name[idx]),
                "gender": pl.Series(people.GENDER_CODES, dtype=pl.String).gather(self.gender[idx]),
                "birth": self.birth[idx],
                "mobile": self.mobile[idx],
                "city": people.city_text(self.city[idx]),
                "address": people.address_text(self.address[idx]),
                "join": self.start_epoch + self.join_day[idx],
                "store": pl.Series(st.ids).gather(store),
                "staff": self.staff[idx].astype(np.int32),
                "activated": self.activated[idx],
                "consent": self.consent[idx],
                "bonus": pl.Series(CATEGORY_NAMES + (None,), dtype=pl.String).gather(
                    np.where(bonus < 0, len(CATEGORY_NAMES), bonus)
                ),
                "ts": np.asarray(updated_at, dtype=np.int64),
            }
        )
        c = pl.col
        return raw.select(
            member_id=pl.concat_str(pl.lit("M"), c("i").cast(pl.String).str.zfill(7)),
            card_no=c("card").cast(pl.String),
            name=c("name"),
            gender=c("gender"),
            birth_date=day_text(c("birth")),
            mobile=pl.when(c("mobile") > 0).then(c("mobile").cast(pl.String)),
            city=c("city"),
            address=c("address"),
            join_date=day_text(c("join")),
            join_store_id=c("store"),
            enrolled_by=pl.concat_str(c("store"), pl.lit("-E"), c("staff").cast(pl.String).str.zfill(2)),
            activated=bool_text(c("activated")),
            status=pl.lit("cancelled" if cancelled else "active"),
            marketing_consent=bool_text(c("consent")),
            bonus_category=c("bonus"),
            updated_at=pl.concat_str(day_text(c("ts") // 86400), pl.lit(" "), clock_text(c("ts") % 86400)),
        )

    def day_rows(self, d: int) -> Iterator[pl.DataFrame]:
        """The members file of day offset `d`, in chunks: joins, cancellations, updates.

        Mutates the changing attributes, so call it once per day, in day order.
        """
        rng = np.random.default_rng([self.seed, 12, d])
        midnight = (self.start_epoch + d) * 86400
        if d == 0:
            # The initial export: everyone carded before the period, stamped on the first day.
            for lo in range(0, self.existing, CHUNK):
                hi = min(lo + CHUNK, self.existing)
                yield self.rows(np.arange(lo, hi), midnight + rng.integers(0, 9 * 3600, hi - lo), False)
        parts = []
        lo, hi = np.searchsorted(self.join_day, [d, d + 1])
        joiners = np.arange(max(lo, self.existing), hi)
        parts.append((joiners, midnight + self.join_sec[joiners], False))
        if d > 0:
            cancels = np.flatnonzero(self.cancel_day == d)
            parts.append((cancels, midnight + rng.integers(9 * 3600, 22 * 3600, len(cancels)), True))
            # Other changes of members carded before today and still active after it.
            cand = np.flatnonzero((self.join_day < d) & (self.cancel_day > d))
            changed = cand[rng.random(len(cand)) < UPDATE_RATE]
            self._change(rng, changed)
            parts.append((changed, midnight + rng.integers(0, 86400, len(changed)), False))
        frames = [self.rows(i, t, c) for i, t, c in parts if len(i)]
        if frames:
            yield pl.concat(frames).sort("updated_at", "member_id")

    def _change(self, rng: np.random.Generator, idx: np.ndarray) -> None:
        kind = rng.random(len(idx))
        activate = (kind < 0.5) & ~self.activated[idx]
        self.activated[idx[activate]] = True
        toggle = ~activate & (kind < 0.75)
        self.consent[idx[toggle]] = ~self.consent[idx[toggle]]
        new_mobile = ~activate & ~toggle
        self.mobile[idx[new_mobile]] = people.draw_mobiles(rng, int(new_mobile.sum()), empty_share=0.02)


def _join_stores(rng: np.random.Generator, stores: Stores, join_day: np.ndarray) -> np.ndarray:
    """A store trading on each join day, chosen by store size."""
    days, inverse = np.unique(join_day, return_inverse=True)
    patterns, which = np.unique(stores.trading(days), axis=0, return_inverse=True)
    member_pattern = which.reshape(-1)[inverse]
    out = np.empty(len(join_day), dtype=np.int16)
    for k, open_mask in enumerate(patterns):  # a handful of patterns: opening/closing events
        sel = np.flatnonzero(member_pattern == k)
        open_ids = np.flatnonzero(open_mask)
        w = stores.weight[open_ids]
        out[sel] = open_ids[rng.choice(len(open_ids), size=len(sel), p=w / w.sum())]
    return out


def make_members(
    seed: int, n: int, stores: Stores, start: date, days: int, season: np.ndarray
) -> Members:
    rng = np.random.default_rng([seed, 3])
    existing = round(EXISTING_SHARE * n)
    # Join days: the existing spread over three years, the newcomers following the season.
    join_day = np.concatenate(
        [
            rng.integers(-HISTORY_DAYS, 0, existing),
            rng.choice(days, size=n - existing, p=season / season.sum()),
        ]
    )
    join_sec = rng.integers(9 * 3600, 22 * 3600, n)
    order = np.lexsort((join_sec, join_day))  # member ids in enrolment order
    join_day, join_sec = join_day[order].astype(np.int32), join_sec[order].astype(np.int32)
    join_store = _join_stores(rng, stores, join_day)
    staff = (1 + (rng.random(n) * stores.staff[join_store]).astype(np.int64)).astype(np.int8)
    card = 8_800_000_000_000 + 1 + rng.choice(99_999_999_999, size=n, replace=False)

    gender = people.draw_gender(rng, n)
    names = people.draw_names(rng, gender)
    birth = people.draw_birth_dates(rng, n, start)
    mobile = people.draw_mobiles(rng, n)
    # Most members live in their store's city.
    city = np.where(rng.random(n) < 0.88, stores.city[join_store], rng.integers(0, len(people.CITY_NAMES), n))
    address = people.draw_addresses(rng, city)
    activated = rng.random(n) < 0.8
    consent = rng.random(n) < 0.7
    share = np.array([v[0] for v in CATEGORIES.values()])
    bonus = np.where(rng.random(n) < 0.4, rng.choice(len(share), size=n, p=share / share.sum()), -1).astype(np.int8)

    # Lifecycle. Cancellation comes after the join day (and after the first day,
    # whose file already lists everyone); lapsing members just stop shopping.
    first_possible = np.maximum(join_day.astype(np.int64) + 1, 1)
    cancel_day = np.full(n, NEVER, dtype=np.int64)
    cancelling = (rng.random(n) < CANCEL_SHARE) & (first_possible < days)
    cancel_day[cancelling] = rng.integers(first_possible[cancelling], days)
    lapse_day = np.full(n, NEVER, dtype=np.int64)
    lapsing = (rng.random(n) < LAPSE_SHARE) & (first_possible < days)
    lapse_day[lapsing] = rng.integers(first_possible[lapsing], days)
    oneoff_day = np.full(n, -1, dtype=np.int64)
    n_oneoff = max(round(ONE_OFF_SHARE * n), 1 if n >= 100 else 0)
    pool = np.flatnonzero(~cancelling)
    if n_oneoff and len(pool):
        big = np.sort(rng.choice(pool, size=min(n_oneoff, len(pool)), replace=False))
        oneoff_day[big] = rng.integers(np.maximum(join_day[big], 0), days)

    return Members(
        start_epoch=(start - date(1970, 1, 1)).days,
        days=days,
        existing=existing,
        card=card.astype(np.int64),
        gender=gender,
        name=names,
        birth=birth,
        mobile=mobile,
        city=city.astype(np.int16),
        address=address,
        join_day=join_day,
        join_sec=join_sec,
        join_store=join_store,
        staff=staff,
        activated=activated,
        consent=consent,
        bonus=bonus,
        cancel_day=cancel_day,
        stop_day=np.minimum(cancel_day, lapse_day),
        oneoff_day=oneoff_day,
        propensity=rng.lognormal(0.0, 1.0, n),
        basket=np.minimum(1 + rng.lognormal(0.225, 0.6, n), 15.0),
        stores=stores,
        seed=seed,
    )
