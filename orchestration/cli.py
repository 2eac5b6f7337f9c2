"""`loyalty`: generate sample data, run the daily pipeline, run the demo.

`run` and `demo` execute the same Dagster job the UI shows (daily_pipeline),
in process, against the instance under $DAGSTER_HOME, so runs appear in the UI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from orchestration.settings import settings_from_env


def _generate(args: argparse.Namespace) -> int:
    from sample_chain import generate_landing

    started = time.monotonic()
    summary = generate_landing(
        Path(args.out), members=args.members, days=args.days, stores=args.stores,
        start=date.fromisoformat(args.start), seed=args.seed, encoding=args.encoding,
        dirty=args.dirty, progress=lambda line: print(line, flush=True),
    )
    print(f"wrote {summary.pos_lines:,} POS lines in {summary.pos_files:,} files, "
          f"{summary.members:,} members, {summary.stores} stores, days "
          f"{summary.first_day}..{summary.last_day} to {summary.out_dir} "
          f"in {time.monotonic() - started:.1f}s")
    return 0


def run_pipeline(as_of: str, force: bool = False) -> int:
    """Materialize daily_pipeline for one business day; non-zero if anything blocked it. A day
    already published from everything there is starts no run (unless force)."""
    if not force:
        from orchestration.already_published import already_published

        settings = settings_from_env()
        reason = already_published(settings, as_of)
        if reason is not None:
            print(f"nothing to do: {reason} (--force runs it again)")
            print(f"published: {settings.outbox_dir / as_of}")
            print(f"warehouse: {settings.warehouse_path}")
            return 0

    import dagster as dg

    from orchestration.dbt_manifest import ensure_manifest
    from orchestration.defs.transform.project import loyalty_dbt_project

    # The definitions read the dbt manifest: a `pip install .` has none until the first run.
    if ensure_manifest(loyalty_dbt_project):
        print(f"prepared the dbt manifest: {loyalty_dbt_project.manifest_path}")

    from orchestration.definitions import defs
    from orchestration.instance import ensure_dagster_home

    settings = settings_from_env()
    os.environ["LOYALTY_DATA_DIR"] = str(settings.data_dir)
    ensure_dagster_home(settings.data_dir)
    job = defs().resolve_job_def("daily_pipeline")
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=as_of, instance=instance, raise_on_error=False)
    elapsed = time.monotonic() - started
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for evaluation in failed_checks:
        # only an ERROR-severity failure is a gate; a failed WARN check is reported and publishes
        label = "GATE FAILED" if evaluation.severity == dg.AssetCheckSeverity.ERROR else "WARNING"
        count = next((evaluation.metadata[key].value for key in ("failing_count", "failing_files", "rejected_files")
                      if key in evaluation.metadata), None)
        count_text = f" ({count} failing)" if count is not None else ""
        print(f"{label} {evaluation.asset_key.to_user_string()}:{evaluation.check_name}{count_text}",
              file=sys.stderr)
        for key in ("failed_expectations", "failing_sample", "reasons", "sample"):
            if key in evaluation.metadata:
                print(f"  {key}: {json.dumps(evaluation.metadata[key].value, ensure_ascii=False)[:2000]}",
                      file=sys.stderr)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"STEP FAILED {event.step_key}: {event.step_failure_data.error.message.strip()}",
                      file=sys.stderr)
            elif event.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE:
                # e.g. the run guard gave up waiting for another run (orchestration/run_guard.py)
                print(f"RUN NOT STARTED: {event.event_specific_data.error.message.strip()}", file=sys.stderr)
        print(f"run {result.run_id} for {as_of} did not publish ({elapsed:.1f}s); "
              f"details in the Dagster UI (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", file=sys.stderr)
        return 1
    print(f"run {result.run_id} for {as_of} succeeded in {elapsed:.1f}s")
    print(f"published: {settings.outbox_dir / as_of}")
    print(f"warehouse: {settings.warehouse_path}")
    return 0


def _run(args: argparse.Namespace) -> int:
    return run_pipeline(args.as_of, force=args.force)


def _demo(args: argparse.Namespace) -> int:
    from sample_chain import generate_landing

    settings = settings_from_env()
    started = time.monotonic()
    summary = generate_landing(
        settings.landing_dir, members=args.members, days=args.days, stores=args.stores,
        start=date.fromisoformat(args.start), seed=args.seed,
        progress=lambda line: print(line, flush=True))
    print(f"sample data: {summary.pos_lines:,} POS lines, {summary.members:,} members, "
          f"{summary.stores} stores, {summary.first_day}..{summary.last_day} in {settings.landing_dir}")
    code = run_pipeline(summary.last_day.isoformat())
    print(f"demo finished in {time.monotonic() - started:.1f}s")
    if code == 0:
        print(f"open the UI with `make dev` (or DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev)")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a synthetic landing directory")
    generate.add_argument("--out", required=True)
    generate.add_argument("--members", type=int, default=5000)
    generate.add_argument("--days", type=int, default=400)
    generate.add_argument("--stores", type=int, default=20)
    generate.add_argument("--start", default="2025-01-01")
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8")
    generate.add_argument("--dirty", action="store_true", help="include bad rows and bad files")
    generate.set_defaults(func=_generate)

    run = commands.add_parser("run", help="run the daily pipeline for one business day")
    run.add_argument("--as-of", required=True, type=lambda s: date.fromisoformat(s).isoformat())
    run.add_argument("--force", action="store_true",
                     help="run even when the day is already published from everything there is")
    run.set_defaults(func=_run)

    demo = commands.add_parser("demo", help="generate sample data and run its last day")
    demo.add_argument("--members", type=int, default=5000)
    demo.add_argument("--days", type=int, default=400)
    demo.add_argument("--stores", type=int, default=20)
    demo.add_argument("--start", default="2025-01-01")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
