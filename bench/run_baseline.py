"""Run bench/baseline.sql statement by statement; print each statement's seconds as JSON.

    python bench/run_baseline.py <database> <landing dir> <as-of YYYY-MM-DD>
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import duckdb

SCRIPT = Path(__file__).with_name("baseline.sql")


def statements(landing: str, as_of: str) -> list[str]:
    text = SCRIPT.read_text().replace("{landing}", landing).replace("{as_of}", as_of)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def main(database: str, landing: str, as_of: str) -> int:
    con = duckdb.connect(database)
    con.execute("SET enable_progress_bar = false")
    timings = []
    for statement in statements(landing, as_of):
        name = re.search(r"CREATE TABLE (\w+)", statement)
        started = time.monotonic()
        con.execute(statement)
        timings.append({"statement": name.group(1) if name else statement[:40],
                        "seconds": round(time.monotonic() - started, 2)})
        print(f"baseline: {timings[-1]['statement']} {timings[-1]['seconds']} s", file=sys.stderr, flush=True)
    tier_list_rows = con.execute("SELECT count(*) FROM tier_list").fetchone()[0]
    print(json.dumps({"statements": timings, "tier_list_rows": tier_list_rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
