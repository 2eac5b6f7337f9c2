"""Personal data of synthetic members: names, genders, birthdays, mobiles, addresses.

Everything is drawn as small integer codes (cheap to keep for a million members)
and turned into text only for the rows being written.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from .places import CITY_NAMES, DISTRICT_COUNT, DISTRICT_START, DISTRICTS, ROADS

# Common surnames, most frequent first (weights fall off like the real distribution).
SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "邓", "冯", "韩", "曹",
    "曾", "彭", "萧", "蔡", "潘", "田", "董", "袁", "于", "余", "叶", "蒋", "杜", "苏", "魏",
    "程", "吕", "丁", "沈", "任", "姚", "卢", "傅", "钟", "姜", "崔", "谭", "廖", "范", "汪",
    "陆", "金", "石", "戴", "贾", "韦", "夏", "邱", "方", "侯", "邹", "熊", "孟", "秦", "白",
    "江", "阎", "薛", "尹", "段", "雷", "黎", "史", "龙", "陶", "贺", "顾", "毛", "郝", "龚",
    "欧阳", "司马", "上官", "诸葛",
)
_SURNAME_P = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9
_SURNAME_P /= _SURNAME_P.sum()

FEMALE_GIVEN = (
    "丽", "娟", "敏", "静", "燕", "艳", "芳", "娜", "婷", "雪", "慧", "琳", "颖", "晶", "霞",
    "玲", "莉", "萍", "倩", "欣", "怡", "佳", "悦", "璐", "菲", "琪", "梦", "雅", "思", "涵",
    "晓", "雨", "诗", "蕾", "薇", "嘉", "妍", "彤", "瑶", "婉", "月", "春", "秀", "美", "淑",
)
MALE_GIVEN = (
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏",
    "华", "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林",
)
GIVEN = FEMALE_GIVEN + MALE_GIVEN  # male characters start at len(FEMALE_GIVEN)

GENDER_CODES = ("F", "M", None)


def draw_gender(rng: np.random.Generator, n: int) -> np.ndarray:
    """0 = F, 1 = M, 2 = not given. A cosmetics chain's members are mostly women."""
    return rng.choice(3, size=n, p=[0.85, 0.12, 0.03]).astype(np.int8)


def draw_names(rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
    """int16[n, 3]: surname, first and second given character (-1: single-character name)."""
    n = len(gender)
    out = np.empty((n, 3), dtype=np.int16)
    out[:, 0] = rng.choice(len(SURNAMES), size=n, p=_SURNAME_P)
    male = gender == 1
    pool = np.where(male, len(MALE_GIVEN), len(FEMALE_GIVEN))
    offset = np.where(male, len(FEMALE_GIVEN), 0)
    out[:, 1] = offset + (rng.random(n) * pool).astype(np.int64)
    out[:, 2] = offset + (rng.random(n) * pool).astype(np.int64)
    out[rng.random(n) < 0.3, 2] = -1
    return out


def name_text(codes: np.ndarray) -> pl.Series:
    surname = pl.Series(SURNAMES).gather(codes[:, 0])
    first = pl.Series(GIVEN).gather(codes[:, 1])
    second = pl.Series(GIVEN + ("",)).gather(np.where(codes[:, 2] < 0, len(GIVEN), codes[:, 2]))
    return pl.DataFrame({"a": surname, "b": first, "c": second}).select(pl.concat_str("a", "b", "c"))["a"]


def draw_birth_dates(rng: np.random.Generator, n: int, start: date) -> np.ndarray:
    """Epoch days. Ages at `start`: 16-70, mostly 20-40; ~1% children aged 8-13."""
    age = 16 + 54 * rng.beta(2.0, 4.5, size=n)
    child = rng.random(n) < 0.01
    age[child] = rng.uniform(8, 14, size=int(child.sum()))
    # Whole days back from start, so 29 February comes up naturally in leap years.
    start_epoch = (start - date(1970, 1, 1)).days
    return (start_epoch - np.floor(age * 365.2425)).astype(np.int32)


# Second digit of Chinese mobile numbers (13x, 15x, 18x are the big blocks).
_MOBILE_SECOND = np.array([3, 4, 5, 6, 7, 8, 9])
_MOBILE_SECOND_P = np.array([0.30, 0.03, 0.20, 0.04, 0.08, 0.25, 0.10])


def draw_mobiles(rng: np.random.Generator, n: int, empty_share: float = 0.05) -> np.ndarray:
    """int64 11-digit numbers 1[3-9]xxxxxxxxx; 0 means no mobile given."""
    second = rng.choice(_MOBILE_SECOND, size=n, p=_MOBILE_SECOND_P).astype(np.int64)
    mobile = 10_000_000_000 + second * 1_000_000_000 + rng.integers(0, 1_000_000_000, size=n)
    mobile[rng.random(n) < empty_share] = 0
    return mobile


def draw_addresses(rng: np.random.Generator, city: np.ndarray) -> np.ndarray:
    """int16[n, 4]: district (global index), road, house number, flat (0: none)."""
    n = len(city)
    out = np.empty((n, 4), dtype=np.int16)
    count = np.array(DISTRICT_COUNT)[city]
    out[:, 0] = np.array(DISTRICT_START)[city] + (rng.random(n) * count).astype(np.int64)
    out[:, 1] = rng.integers(0, len(ROADS), size=n)
    out[:, 2] = rng.integers(1, 600, size=n)
    flat = rng.integers(1, 33, size=n) * 100 + rng.integers(1, 9, size=n)
    out[:, 3] = np.where(rng.random(n) < 0.7, flat, 0)
    return out


def address_text(codes: np.ndarray) -> pl.Series:
    df = pl.DataFrame(
        {
            "d": pl.Series(DISTRICTS).gather(codes[:, 0]),
            "r": pl.Series(ROADS).gather(codes[:, 1]),
            "n": codes[:, 2].astype(np.int32),
            "f": codes[:, 3].astype(np.int32),
        }
    )
    flat = pl.when(pl.col("f") > 0).then(pl.format("{}室", pl.col("f"))).otherwise(pl.lit(""))
    return df.select(pl.concat_str(pl.col("d"), pl.col("r"), pl.format("{}号", pl.col("n")), flat).alias("a"))["a"]


def city_text(city: np.ndarray) -> pl.Series:
    return pl.Series(CITY_NAMES).gather(city)
