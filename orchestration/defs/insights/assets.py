"""p(alive), expected purchase days and CLV per member: the buy-till-you-die fit after dbt.

The summary it reads is a dbt mart (member_rfm_summary, on either engine); the fit is Python
(pymc-marketing, orchestration/clv.py), so it runs here, after the dbt build, and writes
marts.member_clv beside the marts. A fit that fails or does not converge is a warning (a
non-blocking check): its figures stay null and the rule-based lists still publish.
"""

import dagster as dg

from ingestion.owner_only import owner_only_umask
from orchestration import clv
from orchestration.build_log import latest_build
from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import load_program
from quality.frames import pandas_frame

MEMBER_CLV = dg.AssetKey(["marts", "member_clv"])
RFM_SUMMARY = dg.AssetKey(["marts", "member_rfm_summary"])
FIT_CHECK = "clv_fit_converged"


@dg.asset(
    key=MEMBER_CLV,
    deps=[RFM_SUMMARY],
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="marts",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(
        FIT_CHECK, asset=MEMBER_CLV, blocking=False,
        description="The BG/NBD and Gamma-Gamma fits converged (a warning otherwise: their "
                    "figures stay null, the lists still publish).")],
    description="Per member on D: `p_alive` and expected purchase days over the next "
                "`clv.prediction_days` (BG/NBD), and CLV over `clv.horizon_months` at "
                "`clv.monthly_discount` (Gamma-Gamma on the average spend), fitted with "
                "pymc-marketing on a seeded sample of `clv.fit_sample_members` members of "
                "`member_rfm_summary` and predicted for all of them; a converged fit scores the "
                "next `clv.refit_every_days - 1` days too. Null where a model cannot "
                "score a member. No PII.",
)
def member_clv(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = clv_settings(load_program(warehouse.settings().program_path))
    with warehouse.connect(read_only=True) as con:
        build = latest_build(con)
        recorded = clv.recorded_fit(con)
        if recorded is not None and recorded["as_of"] == context.partition_key and recorded["build"] == build \
                and recorded["settings"] == settings:
            # a rerun with nothing new: the predictions already answer this build
            context.log.info("member_clv: already scored for this build; nothing refitted")
            return _result(recorded["fits"], recorded["seconds"], refitted=False,
                           fitted_as_of=recorded["fitted_as_of"])
        summary = pandas_frame(con.sql("SELECT member_id, frequency, recency_days, age_days, average_spend "
                                       "FROM marts.member_rfm_summary ORDER BY member_id"))
    # the models' parameters move little from one day to the next; fitting costs most of the scoring
    reused = clv.fits_to_reuse(recorded, context.partition_key, settings)
    fitted_as_of = recorded["fitted_as_of"] if reused else context.partition_key
    if reused:
        context.log.info(f"member_clv: scoring with the models fitted on {fitted_as_of} "
                         f"(fitted again every {settings['refit_every_days']} days)")
    result = clv.fit_and_predict(
        summary, sample_members=settings["fit_sample_members"], prediction_days=settings["prediction_days"],
        clv_months=settings["horizon_months"], monthly_discount=settings["monthly_discount"], reused_fits=reused)
    for warning in result.warnings():
        context.log.warning(f"member_clv: {warning}; its figures are null, the rule-based lists still publish")
    with owner_only_umask(), warehouse.connect() as con:
        clv.store(con, result, context.partition_key, build, settings, fitted_as_of=fitted_as_of)
    scored = result.predictions
    return _result(result.fits, result.seconds, refitted=not reused, fitted_as_of=fitted_as_of, extra={
        "dagster/row_count": len(scored),
        "members_with_p_alive": int(scored["p_alive"].notna().sum()),
        "members_with_clv": int(scored["clv"].notna().sum()),
    })


def clv_settings(program: dict) -> dict:
    return dict(sorted(program["clv"].items()))


def _result(fits: list[clv.ModelFit], seconds: float, refitted: bool, fitted_as_of: str,
            extra: dict | None = None) -> dg.MaterializeResult:
    converged = clv.all_converged(fits)  # the fits of this run or of the recorded one
    fit_metadata = {fit.name: {"converged": fit.converged, "members_fitted": fit.members,
                               "message": fit.message,
                               "parameters": {name: round(value, 6) for name, value in fit.parameters.items()}}
                    for fit in fits}
    return dg.MaterializeResult(
        metadata={"converged": converged, "fit_seconds": round(seconds, 1), "refitted": refitted,
                  "fitted_as_of": fitted_as_of,
                  "fits": dg.MetadataValue.json(fit_metadata), **(extra or {})},
        check_results=[dg.AssetCheckResult(
            check_name=FIT_CHECK, passed=converged, severity=dg.AssetCheckSeverity.WARN,
            metadata={"fits": dg.MetadataValue.json(fit_metadata)})],
    )
