"""The POS store-day gates on a generated small chain (5 stores of about 20 lines a day,
450 days), through the real ingestion assets and checks (no dbt):

- store_completeness blocks an open store's header-only or wholly quarantined file for D;
- store_volume judges small stores with a band that fits small counts (a cut file blocks,
  half and double the median pass, a file grown beyond 4x blocks), and its false alarms
  on the chain's ordinary days are few;
- store_days_without_lines warns about every earlier open store-day without lines.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from sample_chain import generate_landing
from quality.gates import load_gates_config, store_completeness, store_volume, store_volume_verdicts

SMALL_STORES = dict(members=730, days=450, stores=5, start=date(2025, 1, 1), seed=7)
RAW_KEYS = {dg.AssetKey(["raw", "stores"]), dg.AssetKey(["raw", "pos_lines"])}
POS_HEADER_FIELDS = 12


def _materialize(landing: Path, data_dir: Path, day: str) -> dg.ExecuteInProcessResult:
    """Ingest stores and POS lines for `day` (every new or changed file <= day) and run
    the POS gates, as the daily job does."""
    from orchestration.defs.ingest.assets import ingest_assets, ingest_checks
    from orchestration.defs.ingest.gates import (
        store_completeness_check, store_days_without_lines_check, store_volume_check,
    )
    from orchestration.defs.resources import WarehouseResource

    assets = [a for a in ingest_assets if a.key in RAW_KEYS]
    checks = [c for c in ingest_checks if next(iter(c.check_keys)).asset_key in RAW_KEYS]
    return dg.materialize(
        [*assets, *checks, store_completeness_check, store_volume_check, store_days_without_lines_check],
        partition_key=day, raise_on_error=False,
        resources={"warehouse": WarehouseResource(landing_dir=str(landing), data_dir=str(data_dir))})


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict:
    """The generated landing, ingested up to its last day."""
    root = tmp_path_factory.mktemp("small_stores")
    landing, data_dir = root / "landing", root / "data"
    summary = generate_landing(landing, **SMALL_STORES)
    assert _materialize(landing, data_dir, summary.last_day.isoformat()).success
    return {"landing": landing, "data_dir": data_dir, "first": summary.first_day, "last": summary.last_day}


def _daily_verdicts(data_dir: Path, first: date, last: date) -> dict[date, list[dict]]:
    """store_volume (default band) on every day of the chain: the stores it judged that day."""
    volume = load_gates_config()["volume"]
    verdicts = {}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        day = first
        while day <= last:
            gate = store_volume(con, day.isoformat(), volume)
            verdicts[day] = (gate.details["stores_by_verdict"], gate.sample)
            day += timedelta(days=1)
    return verdicts


@pytest.fixture(scope="module")
def verdicts(chain) -> dict:
    return _daily_verdicts(chain["data_dir"], chain["first"], chain["last"])


def test_the_volume_band_rarely_blocks_an_ordinary_small_store_day(verdicts):
    judged = sum(n for by_verdict, _ in verdicts.values()
                 for verdict, n in by_verdict.items() if not verdict.startswith("not judged"))
    blocked = [(day, row["store_id"], row["lines"], row["median_lines"])
               for day, (_, failing) in verdicts.items() for row in failing]
    print(f"volume band on the chain's ordinary days: {len(blocked)} of {judged} store-days blocked: {blocked}")
    assert judged > 1800  # every store with 7 days of history is judged, small ones too
    # docs/decisions.md reports the figure: 14 of 1,915 (0.73%) with the default band
    assert len(blocked) <= 0.01 * judged


def _ordinary_day(chain: dict, verdicts: dict, low: float, high: float) -> tuple[str, str, float]:
    """A day late in the chain on which every gate passes, and a store whose trailing
    median lies in [low, high]: (day, store, median)."""
    with duckdb.connect(str(chain["data_dir"] / "warehouse.duckdb"), read_only=True) as con:
        for day in sorted(verdicts, reverse=True):
            if verdicts[day][1] or not store_completeness(con, day.isoformat()).passed:
                continue
            for row in store_volume_verdicts(con, day.isoformat(), load_gates_config()["volume"]):
                if row["verdict"] == "ok" and low <= row["median_lines"] <= high:
                    return day.isoformat(), row["store_id"], row["median_lines"]
    raise AssertionError(f"no store with a median in [{low}, {high}]")


@pytest.fixture
def copy_of(tmp_path, chain):
    """A private copy of the ingested chain (landing and warehouse) for one test."""
    landing, data_dir = tmp_path / "landing", tmp_path / "data"
    shutil.copytree(chain["landing"], landing)
    data_dir.mkdir()
    shutil.copy(chain["data_dir"] / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    return landing, data_dir


def _pos_file(landing: Path, day: str, store: str) -> Path:
    return landing / "pos" / f"pos_{day.replace('-', '')}_{store}.csv"


def _rewrite_with(path: Path, lines: int) -> None:
    """The file with `lines` valid lines: its first lines, or its lines repeated under new
    transaction ids (a POS export that delivered the day several times over)."""
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out, copy = [], 0
    while len(out) < lines:
        for row in rows[: lines - len(out)]:
            cells = next(csv.reader(io.StringIO(row)))
            if copy:
                cells[0] = f"{cells[0]}X{copy}"
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(cells)
            out.append(buffer.getvalue())
        copy += 1
    path.write_text(header + "".join(out), encoding="utf-8")


@pytest.mark.parametrize("share, verdict", [(0.5, "ok"), (2.0, "ok")])
def test_half_and_double_a_small_stores_median_pass(copy_of, chain, verdicts, share, verdict):
    landing, data_dir = copy_of
    day, store, median = _ordinary_day(chain, verdicts, 16, 20)
    _rewrite_with(_pos_file(landing, day, store), round(share * median))
    result = _materialize(landing, data_dir, day)
    volume = _evaluations(result)["store_volume"]
    assert result.success and volume.passed, volume.metadata["failing_sample"].value
    assert volume.metadata["failing_count"].value == 0


def test_a_small_store_file_cut_to_two_lines_blocks(copy_of, chain, verdicts):
    landing, data_dir = copy_of
    day, store, median = _ordinary_day(chain, verdicts, 16, 20)  # the store: median ~18
    _rewrite_with(_pos_file(landing, day, store), 2)
    result = _materialize(landing, data_dir, day)
    volume = _evaluations(result)["store_volume"]
    assert not result.success and not volume.passed and volume.severity == dg.AssetCheckSeverity.ERROR
    assert volume.metadata["failing_count"].value == 1
    [row] = volume.metadata["failing_sample"].value
    assert (row["store_id"], row["lines"], row["verdict"]) == (store, "2", "too few lines")
    assert float(row["median_lines"]) == median and float(row["lowest_ok"]) > 2


def test_a_file_grown_beyond_four_times_the_median_blocks(copy_of, chain, verdicts):
    landing, data_dir = copy_of
    day, store, median = _ordinary_day(chain, verdicts, 16, 20)
    _rewrite_with(_pos_file(landing, day, store), round(5 * median))
    result = _materialize(landing, data_dir, day)
    volume = _evaluations(result)["store_volume"]
    assert not result.success and not volume.passed
    [row] = volume.metadata["failing_sample"].value
    assert (row["store_id"], row["verdict"]) == (store, "too many lines")
    assert int(row["lines"]) == round(5 * median) > float(row["highest_ok"])


@pytest.mark.parametrize("content, problem", [
    ("header only", "header-only POS file (no lines)"),
    ("every line for another day", "every line of the POS file quarantined"),
])
def test_an_open_stores_file_without_loadable_lines_for_d_blocks(copy_of, chain, verdicts, content, problem):
    landing, data_dir = copy_of
    day, store, _ = _ordinary_day(chain, verdicts, 10, 100)
    path = _pos_file(landing, day, store)
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    other_day = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    path.write_text(header + ("" if content == "header only" else "".join(r.replace(day, other_day) for r in rows)),
                    encoding="utf-8")
    result = _materialize(landing, data_dir, day)
    completeness = _evaluations(result)["store_completeness"]
    assert not result.success and not completeness.passed
    assert completeness.metadata["failing_count"].value == 1
    assert completeness.metadata["failing_sample"].value == [
        {"store_id": store, "problem": problem, "files": f"pos/{path.name}"}]


def _expected_store_days_without_lines(landing: Path, first: date, last: date) -> set[tuple[str, str]]:
    """From the landing files and stores.csv, independently of the gate's SQL: open
    store-days in [first, last] whose POS file is absent or has no data line."""
    with open(landing / "reference" / "stores.csv", encoding="utf-8") as f:
        stores = list(csv.DictReader(f))
    expected = set()
    day = first
    while day <= last:
        for store in stores:
            opened = date.fromisoformat(store["opened_on"])
            closed = date.fromisoformat(store["closed_on"]) if store["closed_on"] else None
            if opened <= day and (closed is None or day < closed):
                path = _pos_file(landing, day.isoformat(), store["store_id"])
                if not path.exists() or len(path.read_bytes().splitlines()) <= 1:
                    expected.add((store["store_id"], day.isoformat()))
        day += timedelta(days=1)
    return expected


def test_earlier_open_store_days_without_lines_are_listed_as_a_warning(tmp_path, chain):
    landing, data_dir = tmp_path / "landing", tmp_path / "data"
    shutil.copytree(chain["landing"], landing)
    day = date(2026, 2, 5)
    never_sent = _pos_file(landing, (day - timedelta(days=10)).isoformat(), "S001")
    never_sent.unlink()
    rejected = _pos_file(landing, (day - timedelta(days=4)).isoformat(), "S003")
    text = rejected.read_text(encoding="utf-8")
    rejected.write_text(text.replace(",sku,", ",item,", 1), encoding="utf-8")  # required column missing
    header_only = _pos_file(landing, (day - timedelta(days=20)).isoformat(), "S004")
    header_only.write_text(header_only.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")

    result = _materialize(landing, data_dir, day.isoformat())
    assert result.success  # a warning: nothing blocked
    warning = _evaluations(result)["store_days_without_lines"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    first = day - timedelta(days=364)
    expected = _expected_store_days_without_lines(landing, first, day - timedelta(days=1))
    expected.add(("S003", (day - timedelta(days=4)).isoformat()))  # present, but rejected whole
    assert {("S001", never_sent.name[4:12]), ("S004", header_only.name[4:12])} <= {
        (s, d.replace("-", "")) for s, d in expected}
    assert warning.metadata["failing_count"].value == len(expected)
    assert warning.metadata["window"].value == {"first_day": first.isoformat(),
                                                 "last_day": (day - timedelta(days=1)).isoformat()}
    # newest first, then by store: the operator sees the most recent gaps
    newest = sorted(expected, key=lambda sd: (-date.fromisoformat(sd[1]).toordinal(), sd[0]))[:10]
    sample = warning.metadata["failing_sample"].value
    assert [(r["store_id"], r["business_day"]) for r in sample] == newest
    assert {"store_id": "S003", "business_day": (day - timedelta(days=4)).isoformat(),
            "problem": "POS file rejected whole", "files": f"pos/{rejected.name}"} in sample
    problems = warning.metadata["store_days_by_problem"].value
    assert problems["POS file rejected whole"] == 1 and problems["no POS file delivered"] == 1
    assert problems["header-only POS file (no lines)"] >= 1
    assert sum(problems.values()) == len(expected)


def test_a_store_day_confirmed_by_an_operator_does_not_block(copy_of, chain, verdicts, tmp_path, monkeypatch):
    landing, data_dir = copy_of
    day, store, _ = _ordinary_day(chain, verdicts, 10, 100)
    path = _pos_file(landing, day, store)
    path.write_text(path.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    config = tmp_path / "gates.yml"
    config.write_text((Path(__file__).parents[1] / "quality" / "gates.yml").read_text(encoding="utf-8")
                      .replace("confirmed_store_days: []", f"confirmed_store_days: ['{store} {day}']"))
    monkeypatch.setenv("LOYALTY_GATES_CONFIG", str(config))
    result = _materialize(landing, data_dir, day)
    completeness = _evaluations(result)["store_completeness"]
    assert result.success and completeness.passed
    assert completeness.metadata["confirmed_by_operator"].value == [
        {"store_id": store, "problem": "header-only POS file (no lines)", "files": f"pos/{path.name}"}]


def test_a_volume_setting_that_no_longer_exists_is_named(tmp_path):
    config = tmp_path / "gates.yml"
    config.write_text((Path(__file__).parents[1] / "quality" / "gates.yml").read_text(encoding="utf-8")
                      .replace("  noise_sigmas: 3", "  noise_sigmas: 3\n  min_median_lines: 20"))
    with pytest.raises(ValueError, match=r"unknown volume setting\(s\) \['min_median_lines'\]"):
        load_gates_config(config)
