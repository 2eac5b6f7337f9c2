"""Chain-scale benchmark of the whole daily pipeline (a script, not a test).

Generates a chain (default 1,000,000 members, 365 days + 1 extra day, ~50M POS
lines), then measures, each in its own process tree with wall time and peak RSS
(sum over the tree: Dagster + the dbt subprocess):

  full               `loyalty run --as-of M` on an empty warehouse (M: the last month-end of
                     the history)
  first_of_month     the next day, M+1, incremental (a new month-end for every member)
  rerun              the same day again with no new file: the fixed cost of a daily run
  catch_up           M+14 in one run (reported, no target)
  mid_month          M+15, incremental
  corrected_old_file one POS file of a day in the middle of the history re-delivered without its
                     last line, then M+15 again
  half_mid_month     the same day M+15 on a warehouse of half the history (same chain size):
                     a day's cost must not grow with history
  baseline           bench/baseline.sql (run by bench/run_baseline.py, timed per statement):
                     an expert's DuckDB script, read_csv with explicit columns -> tier list,
                     pyramid, lapsed

Each stage also records which process held the memory: peak RSS per process (by short
command: 'dagster/loyalty run', 'dbt', ...), the second of the tree's peak and its make-up.

    .venv/bin/python bench/pipeline_bench.py                       # default scale
    .venv/bin/python bench/pipeline_bench.py --members 20000 --days 120 --workdir /tmp/lw-small

Writes bench/pipeline_report.json (or --report) with the figures and the machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tree_rss(root: int) -> dict[int, int]:
    """Resident memory of a process and each of its descendants (pid -> bytes), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    tree, stack = {}, [root]
    while stack:
        pid = stack.pop()
        tree[pid] = rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return tree


def _describe(pid: int) -> str:
    """A short name for a process: 'dagster/loyalty run', 'dbt', 'python -c', ...
    Read on every sample: a child forked by Dagster shows Dagster's command line until it execs."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return "?"
    if len(argv) > 1 and os.path.basename(argv[0]).startswith("python"):
        argv = argv[1:]  # the script (venv entry points run under the interpreter)
        while len(argv) > 1 and argv[0].startswith("-") and argv[0] not in ("-c", "-m"):
            argv = argv[1:]  # interpreter flags such as -B
    if not argv:
        return "?"
    name = os.path.basename(argv[0])
    if name == "loyalty" and len(argv) > 1:
        return "dagster/loyalty run" if argv[1] == "run" else f"loyalty {argv[1]}"
    if name.startswith("-"):
        return " ".join(["python", *argv[:2 if name == "-m" else 1]])
    return name


def _gib(sizes: dict[str, int]) -> dict[str, float]:
    return {name: round(size / 2**30, 2) for name, size in sorted(sizes.items())}


def measure(label: str, command: list[str], env: dict, log: Path) -> dict:
    """Run a command; return wall seconds and peak tree RSS; stream a heartbeat.
    Also attributes the peak: each process's own peak (summed over processes with the same
    short description), the second at which the tree peaked and what it was made of then."""
    print(f"[{label}] {' '.join(command[:4])} ...", flush=True)
    started_at = time.time()
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        peak, peak_at, at_peak, by_process = 0, 0.0, {}, {}
        last_beat = started
        while process.poll() is None:
            sample: dict[str, int] = {}
            for pid, rss in _tree_rss(process.pid).items():
                if not rss:
                    continue  # exited, not yet reaped
                name = _describe(pid)
                sample[name] = sample.get(name, 0) + rss
            for name, rss in sample.items():
                by_process[name] = max(by_process.get(name, 0), rss)
            if sum(sample.values()) > peak:
                peak, peak_at, at_peak = sum(sample.values()), time.perf_counter() - started, sample
            if time.perf_counter() - last_beat > 30:
                last_beat = time.perf_counter()
                print(f"[{label}] {last_beat - started:6.0f}s  rss {peak / 2**30:.2f} GiB", flush=True)
            time.sleep(0.25)
    seconds = time.perf_counter() - started
    result = {"seconds": round(seconds, 1), "peak_rss_gib": round(peak / 2**30, 2), "started_at": started_at,
              "exit_code": process.returncode, "log": str(log),
              "peak_rss_by_process_gib": _gib(by_process), "peak_at_second": round(peak_at, 1),
              "peak_breakdown_gib": _gib(at_peak)}
    print(f"[{label}] {result}", flush=True)
    if process.returncode != 0:
        print(log.read_text()[-4000:], file=sys.stderr)
    return result


def baseline_statements(log: Path) -> list[dict]:
    """Seconds per statement of the baseline script (the JSON line run_baseline.py prints)."""
    for line in reversed(log.read_text().splitlines()):
        if line.startswith("{"):
            return json.loads(line)["statements"]
    return []


def warehouse_pos_lines(path: Path) -> int:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw.pos_lines").fetchall()[0][0]


_DURATION = re.compile(r"(?:(\d+)m)?(\d+(?:\.\d+)?)(ms|s)$")


def _seconds(text: str) -> float:
    match = _DURATION.search(text.strip().rstrip("."))
    if not match:
        return 0.0
    minutes, value, unit = match.groups()
    return (int(minutes or 0) * 60) + (float(value) / 1000 if unit == "ms" else float(value))


@functools.cache  # one manifest for the whole bench: read it once, not per stage
def crm_insight_nodes() -> frozenset[str]:
    """The dbt models of the CRM insights (issue 15), tagged `crm_insights`, and the tests on them
    (dbt does not pass a model's tags on to its tests), from the prepared manifest."""
    manifest = json.loads((REPO / "dbt_project" / "target" / "manifest.json").read_text())
    models = {key for key, node in manifest["nodes"].items() if "crm_insights" in node.get("tags", [])}
    tests = [node for node in [*manifest["nodes"].values(), *manifest.get("unit_tests", {}).values()]
             if node["resource_type"] in ("test", "unit_test")
             and models & set(node.get("depends_on", {}).get("nodes", []))]
    return frozenset({manifest["nodes"][key]["name"] for key in models} | {node["name"] for node in tests})


def stage_breakdown(log: Path, started_at: float | None = None) -> dict:
    """Per-stage seconds of a `loyalty run` from its Dagster step events (STEP_SUCCESS /
    STEP_FAILURE durations): ingestion (raw__* steps), dbt (the dbt build step), the CLV scoring
    (marts__member_clv), checks and publish; plus the 10 slowest dbt nodes (from dbt's "... in Xs"
    lines) and what the CRM insights cost (their dbt nodes, the CLV scoring, the nudge extract)."""
    stages = {"ingestion": 0.0, "dbt": 0.0, "clv_scoring": 0.0, "checks": 0.0, "publish": 0.0,
              "serving_copy": 0.0, "other": 0.0}
    nudge_extract = 0.0
    nodes = []
    text = log.read_text(errors="replace")
    for line in text.splitlines():
        step = re.search(r'Finished execution of step "([^"]+)" in ([0-9ms.]+)', line)
        if step:
            name, took = step.group(1), _seconds(step.group(2))
            if name == "loyalty_dbt_models":
                stages["dbt"] += took
            elif name == "marts__member_clv":
                stages["clv_scoring"] += took
            elif name == "publish__serving_copy":
                stages["serving_copy"] += took
            elif name.startswith("publish__"):
                stages["publish"] += took  # staged extracts, their checks, the outbox
                if name.startswith("publish__upgrade_nudges"):
                    nudge_extract += took
            elif name.startswith("raw__") and name.count("_") > 2 and any(
                    tag in name for tag in ("reconciliation", "completeness", "volume", "_check")):
                stages["checks"] += took
            elif name.startswith("raw__"):
                stages["ingestion"] += took
            elif name.startswith("marts__"):
                stages["checks"] += took
            else:
                stages["other"] += took
        node = re.search(r"\d+ of \d+ (?:OK created sql \w+ model|ERROR creating sql \w+ model|PASS|WARN|FAIL|ERROR"
                         r"|OK hook:) ([A-Za-z0-9_.:]+) \.* ?\[.*? in ([0-9.]+)s\]", line)
        if node:
            nodes.append((float(node.group(2)), node.group(1)))
    unique_nodes = {name: took for took, name in nodes}
    # dbt's own wall time for its nodes (with two threads, node times overlap and exceed it)
    dbt_runs = re.findall(r"^Finished running .* \(([0-9.]+)s\)\.", text, re.M)
    dbt_run = sum(float(seconds) for seconds in dbt_runs)
    slowest = [{"node": name, "seconds": took} for took, name in sorted(set(nodes), reverse=True)[:10]]
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+0000 - dagster .* - RUN_START", text, re.M)
    insight_nodes = crm_insight_nodes()
    insights = {name: took for name, took in unique_nodes.items() if name.split(".")[-1] in insight_nodes}
    startup = None
    if stamps and started_at is not None:
        run_start = datetime.strptime(stamps[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        startup = round(max(0.0, run_start.timestamp() - started_at), 1)
    return {"steps_seconds": {k: round(v, 1) for k, v in stages.items()},
            # process start -> Dagster RUN_START (imports, definitions, instance): 1 s resolution
            "dagster_startup_seconds": startup,
            # dbt step minus dbt's reported run time: dbt start-up (manifest load, adapter),
            # the row counts and Dagster's event handling
            "dbt_overhead_seconds": round(max(0.0, stages["dbt"] - dbt_run), 1),
            "dbt_run_seconds": round(dbt_run, 1),
            # summed over dbt's threads: more than dbt_run_seconds when two nodes run at once
            "dbt_node_seconds": round(sum(unique_nodes.values()), 1),
            "dbt_nodes": len(unique_nodes),
            "dbt_seconds_per_node": round(stages["dbt"] / len(unique_nodes), 3) if unique_nodes else None,
            "slowest_dbt_nodes": slowest,
            # node seconds are summed over dbt's threads, like dbt_node_seconds
            "crm_insights": {"dbt_node_seconds": round(sum(insights.values()), 1), "dbt_nodes": len(insights),
                             "clv_scoring_seconds": round(stages["clv_scoring"], 1),
                             "nudge_extract_seconds": round(nudge_extract, 1)}}


def machine() -> dict:
    mem_kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gib": round(mem_kib / 2**20, 1),
            "platform": platform.platform(), "python": platform.python_version()}


def generate(landing: Path, work: Path, env: dict, members: int, days: int, stores: int, start: date,
             seed: int, label: str) -> bool:
    """A synthetic chain in `landing` (kept between bench runs when the parameters are the same)."""
    marker = landing.parent / f"{landing.name}.generated.json"
    wanted = {"members": members, "days": days, "stores": stores, "start": start.isoformat(), "seed": seed}
    if marker.exists() and landing.is_dir() and json.loads(marker.read_text()) == wanted:
        return True
    subprocess.run(["rm", "-rf", str(landing)], check=True)
    generated = measure(label, [str(BIN / "loyalty"), "generate", "--out", str(landing), "--members", str(members),
                                "--days", str(days), "--stores", str(stores), "--start", start.isoformat(),
                                "--seed", str(seed)], env, work / f"{label}.log")
    if generated["exit_code"]:
        return False
    marker.write_text(json.dumps(wanted))
    return True


def correct_an_old_file(landing: Path, day: date) -> tuple[Path, str]:
    """Re-deliver one POS file of an old day without its last line (a corrected file: same name,
    new content); returns its path and original text (to put back)."""
    path = sorted((landing / "pos").glob(f"pos_{day:%Y%m%d}_*.csv"))[0]
    original = path.read_text(encoding="utf-8")
    path.write_text("".join(original.splitlines(keepends=True)[:-1]), encoding="utf-8")
    return path, original


def fresh_warehouse(work: Path, name: str, landing: Path, first_day: date) -> dict:
    """An empty data directory and Dagster home for one warehouse; the environment of its runs."""
    data, home = work / f"data_{name}", work / f"dagster_home_{name}"
    for stale in (data, home):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n")
    return fresh_environment(work, name, landing, first_day)


def fresh_environment(work: Path, name: str, landing: Path, first_day: date) -> dict:
    """The environment of the runs on one warehouse of the bench."""
    data, home = work / f"data_{name}", work / f"dagster_home_{name}"
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "LOYALTY_LANDING_DIR": str(landing), "LOYALTY_DATA_DIR": str(data), "DAGSTER_HOME": str(home),
            "LOYALTY_FIRST_BUSINESS_DAY": first_day.isoformat()}


def run_day(label: str, day: date, env: dict, work: Path) -> dict:
    result = measure(label, [str(BIN / "loyalty"), "run", "--as-of", day.isoformat()], env, work / f"{label}.log")
    result["as_of"] = day.isoformat()
    result["breakdown"] = stage_breakdown(work / f"{label}.log", result["started_at"])
    return result


def rerun_only(report_path: Path, work: Path, landing: Path, start: date) -> int:
    """The rerun stage again, after a code change, on the warehouse of the last full bench:
    its last day once (to be level with the code), then the same day again, measured."""
    report = json.loads(report_path.read_text())
    day = date.fromisoformat(report["stages"]["mid_month"]["as_of"])
    env = {**fresh_environment(work, "all", landing, start)}
    level = run_day("rerun_level", day, env, work)
    rerun = run_day("rerun", day, env, work)
    rerun["code"] = code_version()
    rerun["note"] = f"measured with --rerun-only after the full bench, on its warehouse (day {day} again)"
    report["stages"]["rerun_level"], report["stages"]["rerun"] = level, rerun
    report["summary"]["rerun_no_new_file_seconds"] = rerun["seconds"]
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"rerun": rerun["seconds"], "exit_code": rerun["exit_code"]}))
    return rerun["exit_code"]


def half_history_stages(work: Path, env: dict, args: argparse.Namespace, start: date, full_day: date,
                        mid_month: date) -> dict:
    """The same mid-month day on a warehouse of half the history (same chain size): its catch-up
    to the day before, then the day, measured."""
    half_start = mid_month - timedelta(days=((full_day - start).days + 1) // 2 + 15 - 1)
    half_landing = work / "landing_half"
    if not generate(half_landing, work, env, args.members, (mid_month - half_start).days + 1, args.stores,
                    half_start, args.seed, "generate_half"):
        return {}
    half_env = fresh_warehouse(work, "half", half_landing, half_start)
    return {"half_catch_up": run_day("half_catch_up", mid_month - timedelta(days=1), half_env, work),
            "half_mid_month": run_day("half_mid_month", mid_month, half_env, work)}


def half_only(report_path: Path, work: Path, env: dict, args: argparse.Namespace, start: date, full_day: date,
              mid_month: date) -> int:
    """The half-history stages again, into the report of the last full bench."""
    report = json.loads(report_path.read_text())
    stages = half_history_stages(work, env, args, start, full_day, mid_month)
    if not stages:
        return 1
    for stage in stages.values():
        stage["code"] = code_version()
        stage["note"] = "measured with --half-only after the full bench"
    report["stages"].update(stages)
    summary = report["summary"]
    summary["half_history_mid_month_seconds"] = stages["half_mid_month"]["seconds"]
    summary["mid_month_all_over_half_history"] = round(
        summary["mid_month_seconds"] / stages["half_mid_month"]["seconds"], 2)
    summary["peak_rss_gib"] = max(stage["peak_rss_gib"] for stage in report["stages"].values())
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return max(stage["exit_code"] for stage in stages.values())


def measure_baseline(work: Path, landing: Path, full_day: date, env: dict) -> dict:
    """bench/baseline.sql on the landing, as of the full run's day, timed per statement."""
    (work / "baseline.duckdb").unlink(missing_ok=True)
    baseline = measure("baseline", [sys.executable, str(REPO / "bench" / "run_baseline.py"),
                                    str(work / "baseline.duckdb"), str(landing), full_day.isoformat()],
                       env, work / "baseline.log")
    baseline["statements"] = baseline_statements(work / "baseline.log")
    baseline["code"] = code_version()
    return baseline


def code_version() -> str:
    """The commit measured (and whether the tree had uncommitted changes)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return git("rev-parse", "--short", "HEAD") + (" with uncommitted changes" if git("status", "--porcelain") else "")


def last_month_end_on_or_before(day: date) -> date:
    return day if (day + timedelta(days=1)).day == 1 else day.replace(day=1) - timedelta(days=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365,
                        help="days of history for the full run (ends on the last month-end within them)")
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-half", action="store_true", help="skip the half-history warehouse")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/loyalty-pipeline-bench"))
    parser.add_argument("--report", type=Path, default=REPO / "bench" / "pipeline_report.json")
    parser.add_argument("--baseline-only", action="store_true",
                        help="measure only the hand-written baseline on the landing in --workdir and "
                             "update that stage of --report")
    parser.add_argument("--rerun-only", action="store_true",
                        help="measure only the rerun (the first-of-month day again, nothing new) on the "
                             "warehouse a full bench left in --workdir, and update that stage of --report")
    parser.add_argument("--half-only", action="store_true",
                        help="measure only the half-history stages (generating their landing if it is "
                             "missing) and update them in --report")
    args = parser.parse_args()

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = date.fromisoformat(args.start)
    full_day = last_month_end_on_or_before(start + timedelta(days=args.days - 1))
    first_of_month = full_day + timedelta(days=1)
    mid_month = full_day + timedelta(days=15)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    landing = work / "landing"
    if args.rerun_only:
        return rerun_only(args.report, work, landing, start)
    if args.half_only:
        return half_only(args.report, work, env, args, start, full_day, mid_month)
    if args.baseline_only:
        report = json.loads(args.report.read_text())
        report["stages"]["baseline"] = measure_baseline(work, landing, full_day, env)
        report["summary"]["baseline_seconds"] = report["stages"]["baseline"]["seconds"]
        report["summary"]["full_over_baseline"] = round(
            report["summary"]["full_seconds"] / report["summary"]["baseline_seconds"], 2)
        report["summary"]["peak_rss_gib"] = max(stage["peak_rss_gib"] for stage in report["stages"].values())
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report["summary"], indent=2))
        return report["stages"]["baseline"]["exit_code"]
    if not generate(landing, work, env, args.members, (mid_month - start).days + 1, args.stores, start,
                    args.seed, "generate"):
        return 1

    # The warehouse of all the history: full, first-of-month day, the same again, mid-month day,
    # then a corrected old file.
    env = fresh_warehouse(work, "all", landing, start)
    stages = {"full": run_day("full", full_day, env, work)}
    pos_lines = warehouse_pos_lines(work / "data_all" / "warehouse.duckdb")
    stages["first_of_month"] = run_day("first_of_month", first_of_month, env, work)
    stages["rerun"] = run_day("rerun", first_of_month, env, work)
    stages["catch_up"] = run_day("catch_up", mid_month - timedelta(days=1), env, work)
    stages["mid_month"] = run_day("mid_month", mid_month, env, work)
    corrected, original = correct_an_old_file(landing, start + (full_day - start) / 2)
    try:
        stages["corrected_old_file"] = run_day("corrected_old_file", mid_month, env, work)
        stages["corrected_old_file"]["file"] = corrected.name
    finally:
        corrected.write_text(original, encoding="utf-8")  # the landing stays the generated chain

    if not args.skip_half:
        stages.update(half_history_stages(work, env, args, start, full_day, mid_month))

    baseline = stages["baseline"] = measure_baseline(work, landing, full_day, env)

    def seconds(name: str) -> float | None:
        return stages[name]["seconds"] if name in stages else None

    summary = {
        "full_seconds": seconds("full"),
        "baseline_seconds": baseline["seconds"],
        "full_over_baseline": round(seconds("full") / baseline["seconds"], 2),
        "first_of_month_seconds": seconds("first_of_month"),
        "mid_month_seconds": seconds("mid_month"),
        "rerun_no_new_file_seconds": seconds("rerun"),
        "corrected_old_file_seconds": seconds("corrected_old_file"),
        "half_history_mid_month_seconds": seconds("half_mid_month"),
        "mid_month_all_over_half_history": (round(seconds("mid_month") / seconds("half_mid_month"), 2)
                                            if "half_mid_month" in stages else None),
        "peak_rss_gib": max(stage["peak_rss_gib"] for stage in stages.values()),
    }
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code": code_version(),
        "scale": {"members": args.members, "days": (full_day - start).days + 1, "stores": args.stores,
                  "pos_lines": pos_lines},
        "summary": summary,
        "targets": {"first_of_month_seconds_max": 30, "mid_month_seconds_max": 30,
                    "rerun_no_new_file_seconds_max": 15, "full_over_baseline_max": 3.0,
                    "full_over_baseline_headed_to": 1.5, "peak_rss_gib_max": 4.0,
                    "mid_month_all_over_half_history": "about 1 (within noise)"},
        "stages": stages,
        "duckdb_memory_limit": env.get("LOYALTY_DUCKDB_MEMORY_LIMIT", "2.5GB"),
        "machine": machine(),
    }
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"scale": report["scale"], "summary": summary, "targets": report["targets"]}, indent=2))
    return 0 if all(stage.get("exit_code") == 0 for stage in stages.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
