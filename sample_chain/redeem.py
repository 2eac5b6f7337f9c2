"""Points redemptions: activated, active members with enough points trade some in.

The generator does not apply the loyalty rules; it keeps a conservative
running estimate per member (40 welcome + base points of each purchase -
returns - redeemed, see PosSimulator.points), which the real ledger, with its
multipliers, does not undercut, so redemptions rarely drive a balance negative.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .chain import Stores
from .members import Members
from .writer import clock_text, day_text

WELCOME = 40
MIN_POINTS = 100
MAX_POINTS = 2000
DAILY_RATE = 0.004  # chance per eligible member and day
REASONS = ("兑换礼品", "抵现", "兑换小样")
_REASON_P = (0.5, 0.35, 0.15)


class Redeemer:
    def __init__(self, members: Members, stores: Stores):
        self.m, self.st = members, stores
        self.redeemed = np.zeros(len(members), dtype=np.int64)

    def day(self, d: int, earned: np.ndarray) -> pl.DataFrame:
        """Redemptions of day offset `d`, from the state at the start of the day."""
        m = self.m
        rng = np.random.default_rng([m.seed, 13, d])
        balance = WELCOME + earned - self.redeemed
        trading = self.st.trading(d)
        open_ids = np.flatnonzero(trading)
        ok = m.activated & (m.join_day < d) & (d < m.stop_day) & (balance >= MIN_POINTS)
        cand = np.flatnonzero(ok)
        who = cand[rng.random(len(cand)) < DAILY_RATE] if len(open_ids) else cand[:0]
        top = np.minimum(balance[who], MAX_POINTS) // 20
        points = 20 * (5 + (rng.random(len(who)) * (top - 4)).astype(np.int64))
        self.redeemed[who] += points
        store = m.join_store[who].astype(np.int64)
        away = ~trading[store]
        store[away] = open_ids[rng.integers(0, max(len(open_ids), 1), int(away.sum()))]
        ts = rng.integers(9 * 3600, 22 * 3600, len(who))
        reason = rng.choice(len(REASONS), size=len(who), p=_REASON_P)
        order = np.lexsort((who, ts))
        day = m.start_epoch + d
        raw = pl.DataFrame(
            {
                "n": np.arange(1, len(who) + 1),
                "card": m.card[who][order],
                "ts": ts[order],
                "store": pl.Series(self.st.ids).gather(store[order]),
                "points": points[order],
                "reason": pl.Series(REASONS).gather(reason[order]),
            }
        )
        c = pl.col
        compact = pl.lit(day).cast(pl.Int32).cast(pl.Date).dt.strftime("%Y%m%d")
        return raw.select(
            redemption_id=pl.concat_str(pl.lit("RD-"), compact, pl.lit("-"), c("n").cast(pl.String).str.zfill(6)),
            card_no=c("card").cast(pl.String),
            redeemed_at=pl.concat_str(day_text(pl.lit(day)), pl.lit(" "), clock_text(c("ts"))),
            store_id=c("store"),
            points=c("points").cast(pl.String),
            reason=c("reason"),
        )
