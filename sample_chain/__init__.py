"""Synthetic landing data for the loyalty warehouse (`loyalty generate`).

Writes a chain's landing directory in the canonical layout of
shared/spec/data-contract.md, day by day, so a million members over a year
(~50M POS lines) never has to fit in memory. Same arguments, same bytes.

    from sample_chain import generate_landing
    summary = generate_landing(Path("data/landing"), members=5000, days=400)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from .dirty import DirtyPlan
from .chain import Stores, make_products, make_stores
from .members import make_members
from .pos import PosSimulator
from .redeem import Redeemer
from .seasons import day_factors
from .writer import ENCODINGS, LandingWriter

__all__ = ["GenerationSummary", "generate_landing"]

_FOLDERS = ("reference", "members", "pos", "redemptions", "adjustments")


def _planned_files(chain: Stores, start: date, days: int) -> set[str]:
    names = {"reference/stores.csv", "reference/products.csv"}
    for d in range(days):
        tag = (start + timedelta(days=d)).strftime("%Y%m%d")
        names |= {f"members/members_{tag}.csv", f"redemptions/redemptions_{tag}.csv"}
        names |= {f"pos/pos_{tag}_{chain.ids[s]}.csv" for s in np.flatnonzero(chain.trading(d))}
    return names


def _refuse_strangers(out_dir: Path, planned: set[str]) -> None:
    found = sorted(
        p.relative_to(out_dir).as_posix()
        for folder in _FOLDERS
        if (out_dir / folder).is_dir()
        for p in (out_dir / folder).iterdir()
    )
    strangers = [f for f in found if f not in planned]
    if strangers:
        raise FileExistsError(
            f"{out_dir} holds {len(strangers)} landing file(s) this run would not rewrite "
            f"(e.g. {strangers[0]}); clear it or use another directory"
        )


@dataclass(frozen=True)
class GenerationSummary:
    first_day: date
    last_day: date
    members: int
    stores: int
    pos_files: int
    pos_lines: int
    transactions: int
    member_files: int
    redemptions: int
    out_dir: Path


def generate_landing(
    out_dir: Path,
    *,
    members: int = 5000,
    days: int = 400,
    stores: int = 20,
    start: date = date(2025, 1, 1),
    seed: int = 7,
    encoding: str = "utf-8",
    dirty: bool = False,
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write a synthetic landing directory under `out_dir` and say what was written.

    Files of the same name are overwritten (re-running with the same arguments
    rewrites identical bytes). A landing file this run would not rewrite - from
    another chain, more days, or a real export - is refused rather than mixed
    in or deleted: clearing the directory is the caller's call.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    if members < 1 or days < 1 or stores < 1:
        raise ValueError("members, days and stores must be at least 1")
    out_dir = Path(out_dir)

    # Independent random streams per part (and per day inside the parts), so
    # changing one part's draws never shifts another's.
    season = day_factors(start, days)
    chain = make_stores(np.random.default_rng([seed, 1]), stores, start, days)
    planned = _planned_files(chain, start, days)
    if dirty:  # the extra files a dirty run adds (re-sent copies, an unknown store)
        planned |= {
            p.relative_to(out_dir).as_posix() for p in (out_dir / "pos").glob("pos_*")
            if re.fullmatch(r"pos_\d{8}_(S\d+R\.csv|S\d+\.csv\.gz|S999\.csv)", p.name)
        } if (out_dir / "pos").is_dir() else set()
    _refuse_strangers(out_dir, planned)
    products = make_products(np.random.default_rng([seed, 2]))
    population = make_members(seed, members, chain, start, days, season)
    pos = PosSimulator(population, chain, products, days, season)
    redeemer = Redeemer(population, chain)

    plan = DirtyPlan(seed, start, days, encoding) if dirty else None
    writer = LandingWriter(out_dir, encoding, dirty=plan)
    writer.stores(chain.frame())
    writer.products(products.frame())

    pos_files = pos_lines = transactions = redemptions = 0
    step = max(1, days // 20)
    for d in range(days):
        tag = (start + timedelta(days=d)).strftime("%Y%m%d")
        # Redemptions see the state at the start of the day (before today's
        # sales and member updates), so an activation today counts from tomorrow.
        redeemed = redeemer.day(d, pos.points)
        writer.members(tag, population.day_rows(d))
        frames, n_lines, n_txns = pos.day(d)
        for s in np.flatnonzero(chain.trading(d)):
            writer.pos(tag, chain.ids[s], frames.get(int(s)))
            pos_files += 1
        writer.redemptions(tag, redeemed)
        pos_lines += n_lines
        transactions += n_txns
        redemptions += redeemed.height
        if progress is not None and ((d + 1) % step == 0 or d + 1 == days):
            progress(f"day {d + 1}/{days}: {pos_lines:,} POS lines")

    if plan is not None:
        plan.finish(out_dir)
    return GenerationSummary(
        first_day=start,
        last_day=start + timedelta(days=days - 1),
        members=members,
        stores=stores,
        pos_files=pos_files,
        pos_lines=pos_lines,
        transactions=transactions,
        member_files=days,
        redemptions=redemptions,
        out_dir=out_dir,
    )
