"""Ingestion speed benchmark (a script, not a test).

Ingests a generated landing directory with `ingestion.load.ingest_source` (every
source, in dependency order, into a fresh DuckDB file) and, in the same run,
loads the same files with DuckDB's own `read_csv` into tables. Each side runs in
its own subprocess so that its peak RSS is its own. Prints rows/s, peak RSS and
the ratio, and writes a JSON report with the machine's description.

    # a year at 1M members (~50M POS lines, ~4.7 GB; generation takes a few minutes)
    .venv/bin/python bench/ingest_bench.py --generate --members 1000000 --days 365 \
        --workdir /tmp/loyalty-bench [--encoding gb18030] [--keep]
    # or on an existing landing directory
    .venv/bin/python bench/ingest_bench.py --landing /tmp/x --workdir /tmp/loyalty-bench

The report goes to bench/ingest_report.json (one entry per encoding, merged).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
REPORT = REPO / "bench" / "ingest_report.json"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_ours(landing: Path, workdir: Path, encoding: str) -> dict:
    import duckdb

    from ingestion.config import load_config
    from ingestion.contract import SOURCES
    from ingestion.load import ingest_source
    from ingestion.sink import WarehouseSink

    db = workdir / "ours.duckdb"
    con = duckdb.connect(str(db))
    sink = WarehouseSink(con, workdir / "lake")
    config = load_config()
    started = time.perf_counter()
    per_source = {}
    rows = quarantined = files = 0
    for source in SOURCES:
        t0 = time.perf_counter()
        outcomes = ingest_source(
            sink, landing, source, None, quarantine_dir=workdir / "quarantine", config=config,
            encoding=encoding if encoding != "utf-8" else None,
            progress=lambda line: print(f"  [ours {time.perf_counter() - started:7.1f}s] {line}",
                                        file=sys.stderr, flush=True))
        n = sum(o.rows_read for o in outcomes)
        per_source[source.name] = {"files": len(outcomes), "rows": n,
                                   "seconds": round(time.perf_counter() - t0, 2)}
        rows += n
        quarantined += sum(o.rows_quarantined for o in outcomes)
        files += len(outcomes)
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": round(seconds, 2), "rows": rows, "rows_quarantined": quarantined, "files": files,
            "rows_per_s": round(rows / seconds), "peak_rss_mib": round(_peak_rss_mib()),
            "per_source": per_source, "db_bytes": db.stat().st_size}


def phase_duckdb(landing: Path, workdir: Path, encoding: str) -> dict:
    import duckdb

    db = workdir / "duckdb_plain.duckdb"
    con = duckdb.connect(str(db))
    con.execute("SET enable_progress_bar = false").fetchall()
    # DuckDB has no GB18030 decoder without an extension (not allowed here): for GB18030
    # input it reads the same bytes as latin-1, i.e. the same work minus real decoding.
    enc = "utf-8" if encoding == "utf-8" else "latin-1"
    started = time.perf_counter()
    per_source = {}
    rows = 0
    for table, pattern in (("stores", "reference/stores.csv"), ("products", "reference/products.csv"),
                           ("members", "members/*.csv"), ("pos_lines", "pos/*.csv"),
                           ("redemptions", "redemptions/*.csv")):
        t0 = time.perf_counter()
        files = sorted((landing).glob(pattern))
        if not files:
            continue
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv($files, header = true, encoding = '{enc}')",
                    {"files": [str(f) for f in files]}).fetchall()
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        per_source[table] = {"files": len(files), "rows": n, "seconds": round(time.perf_counter() - t0, 2)}
        print(f"  [duckdb {time.perf_counter() - started:7.1f}s] {table}: {n:,} rows", file=sys.stderr, flush=True)
        rows += n
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": round(seconds, 2), "rows": rows, "rows_per_s": round(rows / seconds),
            "peak_rss_mib": round(_peak_rss_mib()), "per_source": per_source,
            "db_bytes": db.stat().st_size, "read_as": enc}


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    import duckdb
    import polars

    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "memory_gib": mem, "python": platform.python_version(),
            "duckdb": duckdb.__version__, "polars": polars.__version__}


def run_phase(name: str, landing: Path, workdir: Path, encoding: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--landing", str(landing), "--workdir", str(workdir),
         "--encoding", encoding], stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--landing", type=Path, help="existing landing directory")
    parser.add_argument("--generate", action="store_true", help="generate the landing dir under --workdir")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/loyalty-bench"))
    parser.add_argument("--keep", action="store_true", help="keep generated data and databases")
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--phase", choices=["ours", "duckdb"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase:
        result = (phase_ours if args.phase == "ours" else phase_duckdb)(args.landing, args.workdir, args.encoding)
        print(json.dumps(result))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    generation = None
    landing = args.landing
    if args.generate:
        from sample_chain import generate_landing

        landing = args.workdir / f"landing-{args.encoding}"
        t0 = time.perf_counter()
        summary = generate_landing(landing, members=args.members, days=args.days, stores=args.stores,
                                   seed=args.seed, encoding=args.encoding,
                                   progress=lambda line: print(f"  [generate] {line}", file=sys.stderr, flush=True))
        generation = {"members": args.members, "days": args.days, "stores": args.stores,
                      "pos_lines": summary.pos_lines, "seconds": round(time.perf_counter() - t0, 1)}
    if landing is None:
        parser.error("give --landing DIR or --generate")
    files = [p for p in landing.rglob("*") if p.is_file()]
    dataset = {"landing": str(landing), "encoding": args.encoding, "files": len(files),
               "bytes": sum(p.stat().st_size for p in files), "generation": generation}
    print(f"dataset: {dataset['files']:,} files, {dataset['bytes'] / 2**30:.2f} GiB, {args.encoding}", flush=True)

    results = {}
    for name in ("duckdb", "ours"):
        for stale in ("ours.duckdb", "duckdb_plain.duckdb", "lake", "quarantine"):
            target = args.workdir / stale
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        print(f"{name} ...", flush=True)
        load_before = os.getloadavg()[0]
        results[name] = run_phase(name, landing, args.workdir, args.encoding)
        # other work on the machine skews both sides: record the load around each phase
        results[name]["load_average_1m_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        r = results[name]
        print(f"{name}: {r['rows']:,} rows in {r['seconds']:.1f}s = {r['rows_per_s']:,} rows/s, "
              f"peak RSS {r['peak_rss_mib']:,} MiB", flush=True)
    ratio = results["ours"]["rows_per_s"] / results["duckdb"]["rows_per_s"]
    print(f"ratio ours/duckdb read_csv: {ratio:.2f} (target >= 0.5); "
          f"peak RSS {results['ours']['peak_rss_mib']:,} MiB (target < 4096)", flush=True)

    entry = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "machine": machine(), "dataset": dataset, "ours": results["ours"],
             "duckdb_read_csv": results["duckdb"], "ratio": round(ratio, 3),
             "targets": {"ratio_min": 0.5, "peak_rss_mib_max": 4096},
             "command": " ".join([Path(sys.executable).name, *sys.argv])}
    report = json.loads(args.report.read_text()) if args.report.exists() else {}
    report[args.encoding] = entry
    args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"report: {args.report}")
    if not args.keep:
        for stale in ("ours.duckdb", "duckdb_plain.duckdb", "lake", "quarantine"):
            target = args.workdir / stale
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        if args.generate:
            shutil.rmtree(landing)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
