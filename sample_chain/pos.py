"""One business day of till activity: member and walk-in baskets, one-off big
purchases and returns, as POS lines per store.

Per-member state is a handful of arrays of the member count; lines live only
for the day being simulated, and pending returns wait in a queue keyed by the
day they come back (at most 14 days of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .chain import CATEGORY_NAMES, Products, Stores
from .members import Members
from .writer import clock_text, day_text, money

LINES_PER_MEMBER_YEAR = 50  # chain-wide lines (members and walk-ins) per member and year
NON_MEMBER_SHARE = 0.30  # of transactions
RETURN_SHARE = 0.025  # of member purchase lines
MAX_RETURN_DELAY = 14
AWAY_SHARE = 0.08  # member visits to a store other than their home store
MAX_VISIT_P = 0.9

OPEN_SEC, CLOSE_SEC = 9 * 3600, 22 * 3600

_QTY = np.array([1, 2, 3, 4, 5, 6])
_QTY_CUM = np.cumsum([0.82, 0.12, 0.04, 0.01, 0.005, 0.005])
_DISCOUNT_PCT = np.array([5, 10, 15, 20, 30])


@dataclass
class _Block:
    """Transactions and their lines; line arrays index transactions by `txn`."""

    store: np.ndarray
    member: np.ndarray  # -1: walk-in
    ts: np.ndarray
    txn: np.ndarray  # per line
    line_no: np.ndarray
    sku: np.ndarray
    qty: np.ndarray
    price: np.ndarray
    disc: np.ndarray
    orig: np.ndarray = field(default=None)  # per line, int key of the returned purchase; 0 = none

    def __post_init__(self):
        if self.orig is None:
            self.orig = np.zeros(len(self.txn), dtype=np.int64)


def _lines_for(n_lines: np.ndarray):
    txn = np.repeat(np.arange(len(n_lines)), n_lines)
    starts = np.cumsum(n_lines) - n_lines
    return txn, np.arange(len(txn)) - starts[txn] + 1


def _merge(blocks: list[_Block]) -> _Block:
    """One block of all transactions; line-to-transaction indices shifted to match."""
    offsets = np.cumsum([0] + [len(x.store) for x in blocks])[:-1]
    cat = np.concatenate
    return _Block(
        store=cat([x.store for x in blocks]),
        member=cat([x.member for x in blocks]),
        ts=cat([x.ts for x in blocks]),
        txn=cat([x.txn + o for x, o in zip(blocks, offsets)]),
        line_no=cat([x.line_no for x in blocks]),
        sku=cat([x.sku for x in blocks]),
        qty=cat([x.qty for x in blocks]),
        price=cat([x.price for x in blocks]),
        disc=cat([x.disc for x in blocks]),
        orig=cat([x.orig for x in blocks]),
    )


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds of day: open hours, busiest at lunch and after work."""
    kind = rng.random(n)
    t = rng.uniform(OPEN_SEC, CLOSE_SEC, n)
    lunch, evening = kind < 0.2, (kind >= 0.2) & (kind < 0.45)
    t[lunch] = rng.normal(13 * 3600, 3600, int(lunch.sum()))
    t[evening] = rng.normal(19.5 * 3600, 4000, int(evening.sum()))
    return np.clip(t, OPEN_SEC, CLOSE_SEC - 1).astype(np.int64)


class PosSimulator:
    def __init__(self, members: Members, stores: Stores, products: Products, days: int, season: np.ndarray):
        self.m, self.st, self.pr = members, stores, products
        self.days, self.season, self.seed = days, season, members.seed
        n = len(members)
        # Base points earned so far (no multipliers, per transaction, returns rounded
        # up): a floor under the real ledger that redemptions can safely spend.
        self.points = np.zeros(n, dtype=np.int64)
        self.regular = members.oneoff_day < 0
        self.visit_p = self._visit_probabilities()
        order = np.flatnonzero(~self.regular)
        self._oneoffs = {int(d): order[members.oneoff_day[order] == d] for d in np.unique(members.oneoff_day[order])}
        self._queue: dict[int, list[dict[str, np.ndarray]]] = {}
        self._expensive = np.flatnonzero(products.price >= 20000)
        if len(self._expensive) < 5:
            self._expensive = np.argsort(products.price)[-10:]
        self._sku_text = pl.Series(products.skus)
        self._cat_text = pl.Series(CATEGORY_NAMES).gather(products.category)
        self._store_text = pl.Series(stores.ids)

    def _visit_probabilities(self) -> np.ndarray:
        """Scale propensities so the expected volume hits LINES_PER_MEMBER_YEAR.

        Each member's expected lines are propensity x basket x the summed season
        factors of the days they can shop, so one scale factor fits any size.
        """
        m, days = self.m, self.days
        cum = np.concatenate([[0.0], np.cumsum(self.season)])
        a = np.clip(m.join_day, 0, days)
        b = np.clip(m.stop_day, 0, days)
        exposure = np.where(self.regular & (b > a), cum[np.maximum(a, b)] - cum[a], 0.0)
        expected = float((m.propensity * m.basket * exposure).sum())
        target = (1 - NON_MEMBER_SHARE) * LINES_PER_MEMBER_YEAR * len(m) * days / 365 / (1 + RETURN_SHARE)
        return m.propensity * (target / expected if expected > 0 else 0.0)

    # ---- one day ------------------------------------------------------------------

    def day(self, d: int) -> tuple[dict[int, pl.DataFrame], int, int]:
        """POS lines of day offset `d`: ({store index: lines}, line count, transaction count)."""
        rng = np.random.default_rng([self.seed, 11, d])
        trading = self.st.trading(d)
        open_ids = np.flatnonzero(trading)
        if len(open_ids) == 0:
            self._queue.pop(d, None)
            return {}, 0, 0
        w = np.cumsum(self.st.weight[open_ids])
        w /= w[-1]

        def any_store(k: int) -> np.ndarray:
            return open_ids[np.minimum(np.searchsorted(w, rng.random(k), side="right"), len(open_ids) - 1)]

        blocks = [
            self._baskets(rng, d, trading, any_store),
            self._oneoff(rng, d, trading, any_store),
            self._returns(rng, d, trading),
        ]
        b = _merge(blocks)
        # Transactions numbered per store in time order.
        order = np.lexsort((np.arange(len(b.store)), b.ts, b.store))
        seq = np.empty(len(order), dtype=np.int64)
        sorted_store = b.store[order]
        first = np.searchsorted(sorted_store, sorted_store, side="left")
        seq[order] = np.arange(len(order)) - first + 1

        net = b.qty * b.price - np.sign(b.qty) * b.disc
        self._earn(b, net)
        # Only member baskets come back: they are the first transactions of the merged block.
        self._enqueue(rng, d, b, seq, len(blocks[0].txn), n_member_txns=int((blocks[0].member >= 0).sum()))
        return self._frames(d, b, seq, net), len(b.txn), len(b.store)

    def _earn(self, b: _Block, net: np.ndarray) -> None:
        txn_net = np.rint(np.bincount(b.txn, weights=net, minlength=len(b.store))).astype(np.int64)
        mine = b.member >= 0
        # 10 yuan = 1 point per purchase, rounded down; floor division also makes a
        # return take back its amount rounded up.
        np.add.at(self.points, b.member[mine], txn_net[mine] // 1000)

    def _baskets(self, rng, d, trading, any_store) -> _Block:
        m = self.m
        # Every member has today's visit probability; only those who can shop count.
        can = (m.join_day <= d) & (d < m.stop_day) & self.regular
        p = np.minimum(self.visit_p * self.season[d], MAX_VISIT_P)
        buyers = np.flatnonzero(can & (rng.random(len(p)) < p))
        expected_member_txns = float(p[can].sum())
        store = m.join_store[buyers].astype(np.int64)
        away = ~trading[store] | (rng.random(len(buyers)) < AWAY_SHARE)
        store[away] = any_store(int(away.sum()))
        n_lines = 1 + np.minimum(rng.poisson(m.basket[buyers] - 1), 24)
        # Walk-ins follow the day's expected member traffic, not its noise.
        k = rng.poisson(expected_member_txns * NON_MEMBER_SHARE / (1 - NON_MEMBER_SHARE))
        store = np.concatenate([store, any_store(k)])
        n_lines = np.concatenate([n_lines, 1 + np.minimum(rng.poisson(1.5, k), 24)])
        member = np.concatenate([buyers, np.full(k, -1)])
        txn, line_no = _lines_for(n_lines)
        sku = np.minimum(np.searchsorted(self.pr.cum_pop, rng.random(len(txn)), side="right"), len(self.pr) - 1)
        qty = _QTY[np.minimum(np.searchsorted(_QTY_CUM, rng.random(len(txn)) * _QTY_CUM[-1], side="right"), 5)]
        price = self.pr.price[sku]
        gross = qty * price
        pct = np.where(rng.random(len(txn)) < 0.25, _DISCOUNT_PCT[rng.integers(0, 5, len(txn))], 0)
        disc = (gross * pct + 50) // 100
        return _Block(store, member, _times(rng, len(store)), txn, line_no, sku, qty, price, disc)

    def _oneoff(self, rng, d, trading, any_store) -> _Block:
        """A single large purchase (3,000-20,000 yuan) of expensive items, no discount."""
        who = self._oneoffs.get(d, np.empty(0, dtype=np.int64))
        store = self.m.join_store[who].astype(np.int64)
        away = ~trading[store]
        store[away] = any_store(int(away.sum()))
        n_lines = rng.integers(3, 9, len(who))
        txn, line_no = _lines_for(n_lines)
        sku = self._expensive[rng.integers(0, len(self._expensive), len(txn))]
        price = self.pr.price[sku]
        target = np.exp(rng.uniform(np.log(300_000), np.log(2_000_000), len(who)))
        qty = np.maximum(1, (target[txn] / n_lines[txn] / price).astype(np.int64))
        for t in range(len(who)):  # top up the first line to reach 3,000 yuan
            lines = np.flatnonzero(txn == t)
            short = 300_000 - int((qty[lines] * price[lines]).sum())
            if short > 0:
                qty[lines[0]] += -(-short // int(price[lines[0]]))
        return _Block(store, who, _times(rng, len(who)), txn, line_no, sku, qty, price, np.zeros(len(txn), np.int64))

    def _returns(self, rng, d, trading) -> _Block:
        """Returns due today: one return transaction per returned purchase."""
        due = self._queue.pop(d, [])
        if not due:
            z = np.empty(0, dtype=np.int64)
            return _Block(z, z, z, z, z, z, z, z, z, z)
        r = {k: np.concatenate([x[k] for x in due]) for k in due[0]}
        # Skip returns to a closed store or by a member who has stopped coming.
        ok = trading[r["store"]] & (d < self.m.stop_day[r["member"]])
        r = {k: v[ok] for k, v in r.items()}
        order = np.lexsort((r["line_no"], r["orig"]))
        r = {k: v[order] for k, v in r.items()}
        keys, first, txn = np.unique(r["orig"], return_index=True, return_inverse=True)
        line_no = np.arange(len(txn)) - first[txn] + 1
        return _Block(
            r["store"][first], r["member"][first], _times(rng, len(keys)),
            txn, line_no, r["sku"], -r["qty"], r["price"], r["disc"], r["orig"],
        )

    def _enqueue(self, rng, d, b: _Block, seq, n_lines: int, n_member_txns: int) -> None:
        """Pick member purchase lines that will come back 1-14 days later."""
        lines = np.arange(n_lines)
        lines = lines[(b.txn[lines] < n_member_txns) & (rng.random(n_lines) < RETURN_SHARE)]
        due = d + rng.integers(1, MAX_RETURN_DELAY + 1, len(lines))
        keep = due < self.days
        lines, due = lines[keep], due[keep]
        qty = b.qty[lines]
        # Mostly the whole line comes back; sometimes part of a multi-item line.
        partial = (qty > 1) & (rng.random(len(lines)) < 0.3)
        back = np.where(partial, 1 + (rng.random(len(lines)) * (qty - 1)).astype(np.int64), qty)
        # The refund keeps the line's discount in proportion, rounded half up to the cent.
        disc = (b.disc[lines] * back * 2 + qty) // (2 * qty)
        t = b.txn[lines]
        orig = _orig_key(d, b.store[t], seq[t])
        for day in np.unique(due):
            sel = due == day
            self._queue.setdefault(int(day), []).append(
                {
                    "orig": orig[sel], "line_no": b.line_no[lines][sel], "member": b.member[t][sel],
                    "store": b.store[t][sel], "sku": b.sku[lines][sel], "qty": back[sel],
                    "price": b.price[lines][sel], "disc": disc[sel],
                }
            )

    def _frames(self, d: int, b: _Block, seq: np.ndarray, net: np.ndarray) -> dict[int, pl.DataFrame]:
        day = self.m.start_epoch + d
        t = b.txn
        card = np.where(b.member[t] >= 0, self.m.card[np.maximum(b.member[t], 0)], 0)
        o_day, o_store, o_seq = _split_key(b.orig)
        raw = pl.DataFrame(
            {
                "_s": b.store[t],
                "seq": seq[t],
                "line_no": b.line_no,
                "store": self._store_text.gather(b.store[t]),
                "ts": b.ts[t],
                "card": card,
                "sku": self._sku_text.gather(b.sku),
                "category": self._cat_text.gather(b.sku),
                "qty": b.qty,
                "price": b.price,
                "disc": b.disc,
                "net": net,
                "o_day": self.m.start_epoch + o_day,
                "o_store": self._store_text.gather(o_store),
                "o_seq": o_seq,
            }
        ).sort("_s", "seq", "line_no")
        c = pl.col
        compact = pl.lit(day).cast(pl.Int32).cast(pl.Date).dt.strftime("%Y%m%d")
        lines = raw.select(
            "_s",
            txn_id=pl.concat_str(c("store"), pl.lit("-"), compact, pl.lit("-"), c("seq").cast(pl.String).str.zfill(6)),
            line_no=c("line_no").cast(pl.String),
            store_id=c("store"),
            txn_ts=pl.concat_str(day_text(pl.lit(day)), pl.lit(" "), clock_text(c("ts"))),
            card_no=pl.when(c("card") > 0).then(c("card").cast(pl.String)),
            sku=c("sku"),
            category=c("category"),
            qty=c("qty").cast(pl.String),
            unit_price=money(c("price")),
            discount=money(c("disc")),
            net_amount=money(c("net")),
            original_txn_id=pl.when(c("o_seq") > 0).then(
                pl.concat_str(
                    c("o_store"), pl.lit("-"), c("o_day").cast(pl.Int32).cast(pl.Date).dt.strftime("%Y%m%d"),
                    pl.lit("-"), c("o_seq").cast(pl.String).str.zfill(6),
                )
            ),
        )
        return {k[0]: v for k, v in lines.partition_by("_s", as_dict=True, include_key=False).items()}


# A returned purchase is identified by (day, store, sequence) packed into one int
# (0 = not a return), which keeps the queue numeric and sorts chronologically.
def _orig_key(day, store, seq):
    return ((np.asarray(day, dtype=np.int64) + 1) * 100_000 + store) * 10_000_000 + seq


def _split_key(key: np.ndarray):
    seq = key % 10_000_000
    rest = key // 10_000_000
    return rest // 100_000 - 1, rest % 100_000, seq
