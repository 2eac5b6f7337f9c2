"""p(alive), expected purchase days and CLV: the buy-till-you-die models fitted with pymc-marketing.

BG/NBD on each member's purchase days (frequency, recency, age in days) and Gamma-Gamma on the
average net spend per purchase day (dbt mart member_rfm_summary), fitted by maximum a posteriori on a sample;
every member is then scored with the fitted parameters (clv_scoring.py). No Dagster here: the insights asset calls `fit_and_predict`,
the holdout test calls it on simulated members with known purchase rates.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from orchestration.clv_scoring import PurchaseHistory, expected_purchases, lifetime_value, probability_alive

# The summary columns the dbt mart member_rfm_summary provides.
SUMMARY_COLUMNS = ["member_id", "frequency", "recency_days", "age_days", "average_spend"]


@dataclass
class ModelFit:
    """One model's fit: MAP parameters and whether the optimiser converged."""

    name: str
    members: int
    converged: bool
    message: str
    parameters: dict[str, float] = field(default_factory=dict)


def all_converged(fits: list[ModelFit]) -> bool:
    """The verdict of a run: at least one fit, and every fit converged."""
    return bool(fits) and all(fit.converged for fit in fits)


@dataclass
class ClvResult:
    predictions: pd.DataFrame  # member_id, p_alive, expected_purchase_days, clv: one row per member
    fits: list[ModelFit]
    seconds: float

    @property
    def converged(self) -> bool:
        return all_converged(self.fits)

    def warnings(self) -> list[str]:
        return [f"{fit.name} did not converge: {fit.message}" for fit in self.fits if not fit.converged]


def fit_and_predict(summary: pd.DataFrame, *, sample_members: int, prediction_days: int,
                    clv_months: int, monthly_discount: float, seed: int = 0,
                    reused_fits: list[ModelFit] | None = None) -> ClvResult:
    """Fit both models on up to `sample_members` members of `summary` (a seeded sample, so a
    rerun gives the same figures) and predict for all of them.

    p_alive and expected purchase days for every member (BG/NBD scores a single purchase day
    too); CLV only where Gamma-Gamma can score the spend (frequency > 0, positive average),
    else null. A fit that fails leaves its columns null and says why in the fit's message.
    With `reused_fits` (an earlier run's converged fits), nothing is fitted: every member is
    scored with their parameters (the same figures a fit with those parameters gives).
    """
    started = time.monotonic()
    missing = [column for column in SUMMARY_COLUMNS if column not in summary.columns]
    if missing:
        raise ValueError(f"the RFM summary lacks columns {missing}")
    members = pd.DataFrame({
        # positions, not member ids: the library's fit wants a customer id (strings cost seconds)
        "customer_id": np.arange(len(summary)),
        "frequency": summary["frequency"].astype("float64").to_numpy(),
        "recency": summary["recency_days"].astype("float64").to_numpy(),
        "T": summary["age_days"].astype("float64").to_numpy(),
        "monetary_value": summary["average_spend"].astype("float64").to_numpy(),
    })
    predictions = pd.DataFrame({"member_id": summary["member_id"].to_numpy(),
                                "p_alive": np.nan, "expected_purchase_days": np.nan, "clv": np.nan})
    fits: list[ModelFit] = []
    if members.empty:
        return ClvResult(predictions, fits, time.monotonic() - started)
    rng = np.random.default_rng(seed)
    reused = {fit.name: fit for fit in reused_fits or []}
    history = PurchaseHistory(frequency=members["frequency"].to_numpy(), recency=members["recency"].to_numpy(),
                              age=members["T"].to_numpy())
    bg_fit = reused.get("BG/NBD") or _fit("BG/NBD", members[["customer_id", "frequency", "recency", "T"]],
                                          sample_members, rng)
    fits.append(bg_fit)
    if not bg_fit.converged:  # never invented values: p_alive and CLV stay null
        return ClvResult(predictions, fits, time.monotonic() - started)
    predictions["p_alive"] = probability_alive(history, bg_fit.parameters)
    predictions["expected_purchase_days"] = expected_purchases(history, bg_fit.parameters, prediction_days)

    # Gamma-Gamma needs repeat purchases with a positive average spend (net of returns)
    scorable = ((members["frequency"] > 0) & (members["monetary_value"] > 0)).to_numpy()
    if not scorable.any():
        fits.append(ModelFit("Gamma-Gamma", 0, False, "no member with a repeat purchase and a "
                             "positive average spend"))
        return ClvResult(predictions, fits, time.monotonic() - started)
    gg_fit = reused.get("Gamma-Gamma") or _fit(
        "Gamma-Gamma", members.loc[scorable, ["customer_id", "frequency", "monetary_value"]], sample_members, rng)
    fits.append(gg_fit)
    if gg_fit.converged:
        scorable_history = PurchaseHistory(history.frequency[scorable], history.recency[scorable],
                                           history.age[scorable])
        predictions.loc[scorable, "clv"] = lifetime_value(
            scorable_history, members["monetary_value"].to_numpy()[scorable], bg_fit.parameters,
            gg_fit.parameters, months=clv_months, monthly_discount=monthly_discount)
    return ClvResult(predictions, fits, time.monotonic() - started)


def _sample(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= size:
        return frame.reset_index(drop=True)
    return frame.iloc[np.sort(rng.choice(len(frame), size=size, replace=False))].reset_index(drop=True)


def _fit(name: str, data: pd.DataFrame, sample_members: int, rng: np.random.Generator) -> ModelFit:
    """One model fitted with pymc-marketing on a sample of `data` (imported here: a day that
    reuses a fit never loads pymc)."""
    with _quiet_pymc():
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

        model_class = {"BG/NBD": BetaGeoModel, "Gamma-Gamma": GammaGammaModel}[name]
        return _fit_map(name, model_class, _sample(data, sample_members, rng))


def _fit_map(name: str, model_class, data: pd.DataFrame) -> ModelFit:
    """Maximum a posteriori with the optimiser's own verdict (pymc.find_MAP's raw result)."""
    import pymc as pm

    try:
        model = model_class(data=data)
        model.build_model()
        point, raw = pm.find_MAP(model=model.model, return_raw=True, progressbar=False)
        # the library's own MAP fit, started at the optimum: its parameters as it names them
        model.fit(method="map", start=point, progressbar=False)
        posterior = model.idata.posterior
        parameters = {name: float(posterior[name].mean()) for name in posterior.data_vars
                      if posterior[name].ndim == 2}
    except Exception as exc:  # noqa: BLE001 — a failed fit is a warning, not a failed run
        return ModelFit(name, len(data), False, f"{type(exc).__name__}: {exc}")
    finite = all(math.isfinite(value) and value > 0 for value in parameters.values())
    converged = bool(raw.success) and finite
    message = str(raw.message) if finite else f"parameters not finite and positive: {parameters}"
    return ModelFit(name, len(data), converged, message, parameters)


class _quiet_pymc:
    """pymc and pytensor log every compile and warn on MAP; the asset reports the fit itself."""

    def __enter__(self):
        self._levels = {name: logging.getLogger(name).level for name in ("pymc", "pytensor", "pymc_marketing")}
        for name in self._levels:
            logging.getLogger(name).setLevel(logging.ERROR)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc_info):
        self._warnings.__exit__(*exc_info)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        return False


# Where the predictions and the fit that made them are kept in the warehouse.
PREDICTIONS_TABLE = "marts.member_clv"
FIT_TABLE = "meta.clv_fit"


def recorded_fit(con) -> dict | None:
    """The fit behind marts.member_clv: the day it scored, the build and clv settings it answered,
    the models' verdict and parameters, and the day they were fitted (an earlier day when reused)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                         "AND table_name = 'clv_fit'").fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(f"SELECT * FROM {FIT_TABLE}").df().to_dict("records")
    if not rows:
        return None
    row = rows[0]
    as_of = row["as_of_date"].date().isoformat()
    fitted_as_of = row.get("fitted_as_of")  # absent in a table written before fits were reused
    return {"as_of": as_of, "fitted_as_of": fitted_as_of.date().isoformat() if fitted_as_of is not None else as_of,
            "build": json.loads(row["build_json"]), "settings": json.loads(row["settings_json"]),
            "fits": [ModelFit(**fit) for fit in json.loads(row["fits_json"])], "seconds": row["seconds"]}


def fits_to_reuse(recorded: dict | None, as_of: str, settings: dict) -> list[ModelFit] | None:
    """The recorded fits when the run on `as_of` may score with them instead of fitting again:
    they converged, under the same clv settings, at most `refit_every_days - 1` days before
    `as_of` (never after it). None: fit again."""
    refit_every_days = settings["refit_every_days"]
    if recorded is None or refit_every_days <= 0 or recorded["settings"] != settings \
            or not all_converged(recorded["fits"]):
        return None
    age_days = (date.fromisoformat(as_of) - date.fromisoformat(recorded["fitted_as_of"])).days
    return recorded["fits"] if 0 <= age_days < refit_every_days else None


def store(con, result: ClvResult, as_of: str, build: dict | None, settings: dict,
          fitted_as_of: str | None = None) -> None:
    """Replace marts.member_clv and meta.clv_fit in one transaction (rounded, so the same fit
    gives the same bytes in the extract). `fitted_as_of`: the day the models were fitted, when
    an earlier run's fits scored this day."""
    predictions = result.predictions  # noqa: F841 — read by DuckDB's replacement scan below
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"""
            CREATE OR REPLACE TABLE {PREDICTIONS_TABLE} AS
            SELECT CAST(member_id AS VARCHAR) AS member_id,
                   CAST(round(p_alive, 4) AS DECIMAL(6, 4)) AS p_alive,
                   CAST(round(expected_purchase_days, 3) AS DECIMAL(12, 3)) AS expected_purchase_days,
                   CAST(round(clv, 2) AS DECIMAL(18, 2)) AS clv,
                   CAST(? AS DATE) AS as_of_date
            FROM predictions
            ORDER BY member_id
        """, [as_of])
        con.execute(f"""
            CREATE OR REPLACE TABLE {FIT_TABLE} AS
            SELECT CAST(? AS DATE) AS as_of_date, ? AS build_json, ? AS settings_json, ? AS fits_json,
                   CAST(? AS DOUBLE) AS seconds, current_timestamp AS fitted_at,
                   CAST(? AS DATE) AS fitted_as_of
        """, [as_of, json.dumps(build, sort_keys=True), json.dumps(settings, sort_keys=True),
              json.dumps([asdict(fit) for fit in result.fits]), result.seconds, fitted_as_of or as_of])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
