"""The demo day on each engine: `loyalty run --as-of D` on DuckDB, on a local Spark session and
on the local standalone cluster (master, two workers, Thrift server), from the same landing data.

    python bench/engine_bench.py [--landing DIR] [--as-of 2026-02-04] [--out bench/engine_report.json]

Without --landing it writes the demo chain (5,000 members, 400 days) to a temporary folder. Each
engine starts from an empty data folder, so the time is a first (full) build of the day; the
cluster's start-up is reported apart. Prints one line per engine as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _loyalty_run(work: Path, landing: Path, as_of: str, engine_env: dict[str, str], name: str) -> float:
    data_dir = work / name
    env = {**os.environ, **engine_env, "LOYALTY_DATA_DIR": str(data_dir), "LOYALTY_LANDING_DIR": str(landing),
           "DAGSTER_HOME": str(data_dir / "dagster_home"), "DAGSTER_TELEMETRY_ENABLED": "false"}
    env.pop("LOYALTY_PROGRAM", None)
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).with_name("loyalty")), "run", "--as-of", as_of],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path)
    parser.add_argument("--as-of", default="2026-02-04")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "engine_report.json")
    args = parser.parse_args()

    from orchestration.local_spark import LocalSparkCluster

    with tempfile.TemporaryDirectory(prefix="engine_bench_") as tmp:
        work = Path(tmp)
        landing = args.landing
        if landing is None:
            from sample_chain import generate_landing

            landing = work / "landing"
            print("writing the demo chain ...", flush=True)
            generate_landing(landing, members=5000, days=400, stores=20, start=date(2025, 1, 1), seed=7)
        report: dict[str, float] = {}
        report["duckdb"] = _loyalty_run(work, landing, args.as_of, {"LOYALTY_ENGINE": "duckdb"}, "duckdb")
        print(f"duckdb                 {report['duckdb']:7.1f} s", flush=True)
        report["spark_session"] = _loyalty_run(work, landing, args.as_of, {"LOYALTY_ENGINE": "spark"}, "session")
        print(f"spark session local[*] {report['spark_session']:7.1f} s", flush=True)
        started = time.monotonic()
        cluster = LocalSparkCluster(work / "cluster", workers=2, worker_cores=1, worker_memory="2g").start()
        report["cluster_start"] = time.monotonic() - started
        print(f"cluster start          {report['cluster_start']:7.1f} s", flush=True)
        try:
            report["spark_cluster"] = _loyalty_run(
                work, landing, args.as_of,
                {"LOYALTY_ENGINE": "spark", "LOYALTY_SPARK_METHOD": "thrift",
                 "LOYALTY_SPARK_HOST": cluster.host, "LOYALTY_SPARK_PORT": str(cluster.thrift_port)}, "cluster")
        finally:
            cluster.stop()
        print(f"spark cluster (thrift) {report['spark_cluster']:7.1f} s", flush=True)
    result = {"as_of": args.as_of, "landing": "demo chain" if args.landing is None else str(args.landing),
              "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
              "seconds": {k: round(v, 1) for k, v in report.items()}}
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
