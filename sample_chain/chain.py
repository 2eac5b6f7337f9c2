"""The chain itself: its stores (with one opening and one closing) and its SKUs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from .places import CITY_NAMES, CITY_WEIGHTS, DISTRICT_COUNT, DISTRICT_START, DISTRICTS

BRAND = "丽颜"  # the (fictional) chain, also its own-brand label
NEVER = 2**30  # "no such day" for closing days and the like


@dataclass
class Stores:
    ids: list[str]
    names: list[str]
    city: np.ndarray  # index into CITY_NAMES
    opened: np.ndarray  # day offset from start (negative: before the period)
    closed: np.ndarray  # first day offset it no longer trades, or NEVER
    weight: np.ndarray  # relative traffic
    staff: np.ndarray  # number of enrolling staff
    start: date

    def __len__(self) -> int:
        return len(self.ids)

    def trading(self, day: int | np.ndarray) -> np.ndarray:
        """bool[stores] (or [len(day), stores]) of who trades on day offset(s)."""
        d = np.asarray(day)[..., None]
        return (self.opened <= d) & (d < self.closed)

    def frame(self) -> pl.DataFrame:
        def day_text(offsets):
            return [None if o == NEVER else (self.start + timedelta(days=int(o))).isoformat() for o in offsets]

        return pl.DataFrame(
            {
                "store_id": self.ids,
                "name": self.names,
                "city": [CITY_NAMES[c] for c in self.city],
                "opened_on": day_text(self.opened),
                "closed_on": day_text(self.closed),
            },
            schema={c: pl.String for c in ("store_id", "name", "city", "opened_on", "closed_on")},
        )


def make_stores(rng: np.random.Generator, n: int, start: date, days: int) -> Stores:
    city_p = np.array(CITY_WEIGHTS) / sum(CITY_WEIGHTS)
    city = rng.choice(len(CITY_NAMES), size=n, p=city_p)
    names, seen = [], set()
    for c in city:
        # Name after a district of the city; several stores in one district get a number.
        k = int(rng.integers(DISTRICT_COUNT[c]))
        base = f"{BRAND}{CITY_NAMES[c]}{DISTRICTS[DISTRICT_START[c] + k].removesuffix('区')}"
        name, i = base + "店", 2
        while name in seen:
            name, i = f"{base}{i}店", i + 1
        seen.add(name)
        names.append(name)
    # Most stores are years old; a few opened in the last three years, so members'
    # join stores depend on the join date.
    opened = rng.integers(-3650, -60, size=n)
    opened[0] = -3650 - int(rng.integers(0, 365))  # the flagship predates everyone
    closed = np.full(n, NEVER, dtype=np.int64)
    if n >= 3:
        opened[n - 1] = round(0.4 * days)  # the newest store opens during the period
        shutting = int(rng.integers(1, n - 1))
        closed[shutting] = round(0.75 * days)
    weight = rng.lognormal(0.0, 0.6, size=n)
    staff = rng.integers(4, 13, size=n)
    return Stores(
        ids=[f"S{i + 1:03d}" for i in range(n)],
        names=names,
        city=city,
        opened=opened.astype(np.int64),
        closed=closed,
        weight=weight,
        staff=staff,
        start=start,
    )


# category -> (share of lines, typical price in yuan, product types)
CATEGORIES: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "护肤": (0.14, 99, ("保湿精华液", "爽肤水", "乳液", "面霜", "眼霜", "洁面乳", "防晒霜", "精华油")),
    "彩妆": (0.13, 69, ("口红", "粉底液", "眉笔", "眼影盘", "睫毛膏", "腮红", "散粉", "气垫BB霜", "眼线笔")),
    "面膜": (0.10, 19, ("补水面膜", "美白面膜", "睡眠面膜", "清洁泥膜")),
    "香水": (0.03, 229, ("淡香水", "香氛", "浓香水", "香体喷雾")),
    "个人护理": (0.12, 29, ("沐浴露", "身体乳", "护手霜", "洗手液", "卸妆湿巾")),
    "美发护发": (0.08, 39, ("洗发水", "护发素", "发膜", "护发精油", "染发膏")),
    "发饰": (0.18, 15, ("发夹", "发箍", "发圈", "抓夹", "发带", "边夹")),
    "饰品": (0.13, 29, ("耳钉", "项链", "手链", "戒指", "胸针", "耳环")),
    "美容工具": (0.06, 25, ("化妆刷", "美妆蛋", "睫毛夹", "修眉刀", "化妆镜")),
    "男士护理": (0.03, 49, ("男士洁面", "剃须泡", "男士面霜")),
}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)
_OTHER_BRANDS = ("雪漾", "花间集", "青木良品", "澄光", "沐兮", "悠雅", "蔻诗", "MOCHA", "Lumi", "纤语")
_VARIANTS = ("玫瑰", "樱花", "水光", "丝绒", "清透", "滋润", "珍珠", "小苍兰", "山茶花", "烟酰胺", "蜜桃", "星空")


@dataclass
class Products:
    skus: list[str]
    names: list[str]
    category: np.ndarray  # index into CATEGORY_NAMES
    brand: list[str]
    own_brand: np.ndarray
    price: np.ndarray  # cents
    cum_pop: np.ndarray  # cumulative purchase probability, for searchsorted draws

    def __len__(self) -> int:
        return len(self.skus)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "sku": self.skus,
                "name": self.names,
                "category": [CATEGORY_NAMES[c] for c in self.category],
                "brand": self.brand,
                "own_brand": ["true" if o else "false" for o in self.own_brand],
            },
            schema={c: pl.String for c in ("sku", "name", "category", "brand", "own_brand")},
        )


def _shelf_price(yuan: np.ndarray) -> np.ndarray:
    """Round to shelf prices like 19.90 / 39.90 / 129.00 / 299.00, in cents."""
    cheap = np.floor(yuan) * 100 + 90
    dear = (np.floor(yuan / 10) * 10 + 9) * 100
    return np.where(yuan < 100, cheap, dear).astype(np.int64)


MEAN_ITEM_PRICE = 2200  # cents, purchase-weighted


def _price_tilt(base: np.ndarray, price: np.ndarray) -> np.ndarray:
    """price**-a with a chosen by bisection so the weighted mean price is MEAN_ITEM_PRICE."""
    rel = price / np.exp(np.log(price).mean())

    def mean_price(a: float) -> float:
        w = base * rel**-a
        return float((w * price).sum() / w.sum())

    lo, hi = -2.0, 4.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_price(mid) > MEAN_ITEM_PRICE else (lo, mid)
    return rel ** -((lo + hi) / 2)


def make_products(rng: np.random.Generator) -> Products:
    n = int(rng.integers(150, 301))
    share = np.array([v[0] for v in CATEGORIES.values()])
    # At least a handful of SKUs per category, the rest by share.
    counts = 5 + rng.multinomial(n - 5 * len(share), share / share.sum())
    category = np.repeat(np.arange(len(share)), counts)
    typical = np.array([v[1] for v in CATEGORIES.values()])[category]
    yuan = np.clip(typical * rng.lognormal(0.0, 0.55, size=n), 5, 799)
    price = _shelf_price(yuan)
    own = rng.random(n) < 0.3
    brand = [BRAND if o else _OTHER_BRANDS[int(b)] for o, b in zip(own, rng.integers(0, len(_OTHER_BRANDS), n))]
    names = []
    for c, b, v in zip(category, brand, rng.integers(0, 1 << 30, n)):
        types = CATEGORIES[CATEGORY_NAMES[c]][2]
        names.append(f"{b}{_VARIANTS[v % len(_VARIANTS)]}{types[(v // len(_VARIANTS)) % len(types)]}")
    # Purchase weight: the category's share spread over its SKUs, some hits and
    # duds, and cheap items selling more - steeply enough that the average item
    # sold costs MEAN_ITEM_PRICE whatever prices the seed drew, which keeps the
    # members' spend (and so tiers and pyramid) stable across seeds.
    base = share[category] / counts[category] * rng.lognormal(0.0, 0.8, size=n)
    pop = base * _price_tilt(base, price)
    cum = np.cumsum(pop / pop.sum())
    cum[-1] = 1.0
    return Products(
        skus=[f"SKU{i + 1:05d}" for i in range(n)],
        names=names,
        category=category,
        brand=brand,
        own_brand=own,
        price=price,
        cum_pop=cum,
    )
