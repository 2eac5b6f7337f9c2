"""p(alive), expected purchases and CLV (orchestration/clv.py) against a holdout: members whose
purchases follow known BG/NBD rates and Gamma-Gamma spend are simulated over a calibration year
and the half year after it; the models, fitted on the calibration year only, must predict the
half year's purchase days and spend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.clv import ModelFit, fit_and_predict, fits_to_reuse

CALIBRATION_DAYS, HOLDOUT_DAYS = 365, 180
# BG/NBD: purchase rate ~ Gamma(r, alpha) per day, drop-out after a purchase ~ Beta(a, b);
# Gamma-Gamma: spend per purchase day ~ Gamma(p, nu), nu ~ Gamma(q, gamma).
TRUE = {"r": 2.0, "alpha": 40.0, "a": 1.0, "b": 6.0, "p": 6.0, "q": 4.0, "gamma": 30.0}


def simulate(members: int, seed: int) -> pd.DataFrame:
    """The calibration summary (as member_rfm_summary gives it) and the holdout truth per member."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], members)
    dropouts = rng.beta(TRUE["a"], TRUE["b"], members)
    scales = rng.gamma(TRUE["q"], 1 / TRUE["gamma"], members)  # nu per member
    rows = []
    for member in range(members):
        first = int(rng.integers(0, CALIBRATION_DAYS - 30))
        moment, days = float(first), [first]
        while rng.random() >= dropouts[member]:  # still alive after this purchase
            moment += rng.exponential(1 / rates[member])
            if moment >= CALIBRATION_DAYS + HOLDOUT_DAYS:
                break
            days.append(int(moment))
        days = sorted(set(days))  # purchase days, as the warehouse counts them
        spend = rng.gamma(TRUE["p"], 1 / scales[member], len(days))
        calibration = [day for day in days if day < CALIBRATION_DAYS]
        holdout = len(days) - len(calibration)
        rows.append({
            "member_id": f"M{member:05d}",
            "frequency": len(calibration) - 1,
            "recency_days": calibration[-1] - calibration[0],
            "age_days": CALIBRATION_DAYS - calibration[0],
            "average_spend": spend[:len(calibration)].mean() if len(calibration) > 1 else None,
            "holdout_days": holdout,
            "true_mean_spend": TRUE["p"] / scales[member],
        })
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def holdout():
    members = simulate(5000, seed=7)
    result = fit_and_predict(members, sample_members=3000, prediction_days=HOLDOUT_DAYS, clv_months=12,
                             monthly_discount=0.01)
    return members, result


def test_the_fits_converge_and_recover_the_known_rates(holdout):
    _, result = holdout
    assert result.converged, result.warnings()
    bg, gg = result.fits
    assert (bg.name, bg.members, gg.name) == ("BG/NBD", 3000, "Gamma-Gamma")
    # the mean purchase rate r / alpha within 25% (two purchases on one day are one purchase
    # day, as the warehouse counts them, so the fitted rate runs a little low) and the mean
    # spend per purchase day p * gamma / (q - 1) within 20%
    true_rate = TRUE["r"] / TRUE["alpha"]
    assert bg.parameters["r"] / bg.parameters["alpha"] == pytest.approx(true_rate, rel=0.25)
    true_spend = TRUE["p"] * TRUE["gamma"] / (TRUE["q"] - 1)
    fitted_spend = gg.parameters["p"] * gg.parameters["v"] / (gg.parameters["q"] - 1)
    assert fitted_spend == pytest.approx(true_spend, rel=0.2)


def test_expected_purchase_days_match_the_holdout(holdout):
    members, result = holdout
    predicted = result.predictions["expected_purchase_days"]
    assert predicted.notna().all()
    assert predicted.sum() == pytest.approx(members["holdout_days"].sum(), rel=0.10)
    # per calibration frequency (the classic calibration/holdout plot): within 25% for the
    # repeat buyers, each group at least 100 members
    by_frequency = members.assign(predicted=predicted).groupby(members["frequency"].clip(upper=6))
    compared = by_frequency.agg(predicted=("predicted", "mean"), actual=("holdout_days", "mean"),
                                members=("member_id", "count"))
    for frequency, row in compared.loc[1:].iterrows():
        assert row.members >= 100
        assert row.predicted == pytest.approx(row.actual, rel=0.25), f"frequency {frequency}: {compared}"


def test_p_alive_separates_who_buys_again(holdout):
    members, result = holdout
    p_alive = result.predictions["p_alive"]
    assert p_alive.between(0, 1).all()
    likely, unlikely = members[p_alive >= 0.7], members[p_alive < 0.3]
    assert len(likely) >= 200 and len(unlikely) >= 200
    assert likely["holdout_days"].mean() > 3 * unlikely["holdout_days"].mean()
    assert (likely["holdout_days"] > 0).mean() > 2 * (unlikely["holdout_days"] > 0).mean()


def test_clv_only_for_members_the_spend_model_can_score(holdout):
    members, result = holdout
    clv = result.predictions["clv"]
    scorable = (members["frequency"] > 0) & (members["average_spend"] > 0)
    assert clv[~scorable].isna().all()
    assert clv[scorable].notna().all() and (clv[scorable] > 0).all()
    # higher true spend and more expected purchases: more value
    ranked = members[scorable].assign(clv=clv[scorable], value=members["true_mean_spend"]
                                      * result.predictions["expected_purchase_days"])
    assert ranked["clv"].corr(ranked["value"], method="spearman") > 0.6


def test_a_spend_model_that_does_not_converge_leaves_clv_null_and_says_so():
    """Every member spends the same on every day: Gamma-Gamma has no variance to fit, its
    optimiser stops abnormally. p_alive still comes from BG/NBD; CLV stays null (never
    invented); the warning names the model."""
    members = simulate(800, seed=3)
    members.loc[members["frequency"] > 0, "average_spend"] = 80.0
    result = fit_and_predict(members, sample_members=800, prediction_days=90, clv_months=12,
                             monthly_discount=0.01)
    assert not result.converged
    assert [fit.name for fit in result.fits if not fit.converged] == ["Gamma-Gamma"]
    assert result.warnings()[0].startswith("Gamma-Gamma did not converge")
    assert result.predictions["p_alive"].notna().all()
    assert result.predictions["clv"].isna().all()


def test_a_summary_without_its_columns_is_refused():
    with pytest.raises(ValueError, match="average_spend"):
        fit_and_predict(pd.DataFrame({"member_id": ["M1"], "frequency": [0], "recency_days": [0],
                                      "age_days": [3]}),
                        sample_members=10, prediction_days=90, clv_months=12, monthly_discount=0.01)


def test_the_recorded_fits_score_a_later_day_as_the_fit_itself_did(holdout):
    """Scoring with a converged fit's parameters (a later day within clv.refit_every_days) fits
    nothing and gives the figures the fitting run gave, member for member."""
    members, result = holdout
    rescored = fit_and_predict(members, sample_members=3000, prediction_days=HOLDOUT_DAYS, clv_months=12,
                               monthly_discount=0.01, reused_fits=result.fits)
    assert rescored.fits == result.fits
    pd.testing.assert_frame_equal(rescored.predictions, result.predictions, rtol=1e-9)
    assert rescored.seconds < result.seconds


def test_the_scores_equal_pymc_marketings_own_predictions(holdout):
    """clv_scoring's closed forms give what pymc-marketing's models predict with the same
    parameters, member for member (the library stays the reference for the formulas)."""
    import arviz as az
    import xarray as xr
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    members, result = holdout
    parameters = {fit.name: fit.parameters for fit in result.fits}

    def library_model(model_class, data, fitted):
        model = model_class(data=data)
        model.build_model()
        model.idata = az.InferenceData(posterior=xr.Dataset(
            {name: (("chain", "draw"), [[value]]) for name, value in fitted.items()}))
        return model

    data = pd.DataFrame({"customer_id": np.arange(len(members)),
                         "frequency": members["frequency"].astype(float),
                         "recency": members["recency_days"].astype(float),
                         "T": members["age_days"].astype(float),
                         "monetary_value": members["average_spend"].astype(float)})
    bg = library_model(BetaGeoModel, data[["customer_id", "frequency", "recency", "T"]], parameters["BG/NBD"])
    np.testing.assert_allclose(result.predictions["p_alive"],
                               bg.expected_probability_alive(data=data).values.ravel(), rtol=1e-9)
    np.testing.assert_allclose(result.predictions["expected_purchase_days"],
                               bg.expected_purchases(data=data, future_t=HOLDOUT_DAYS).values.ravel(), rtol=1e-9)
    scorable = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)].copy()
    gg = library_model(GammaGammaModel, scorable[["customer_id", "frequency", "monetary_value"]],
                       parameters["Gamma-Gamma"])
    library_clv = gg.expected_customer_lifetime_value(transaction_model=bg, data=scorable, future_t=12,
                                                      discount_rate=0.01, time_unit="D")
    np.testing.assert_allclose(result.predictions.loc[scorable.index, "clv"], library_clv.values.ravel(),
                               rtol=1e-9)


def test_fits_are_reused_for_the_configured_days_only_when_they_converged_under_the_same_settings():
    settings = {"fit_sample_members": 20000, "refit_every_days": 7}
    converged = [ModelFit("BG/NBD", 10, True, "ok", {"r": 1.0}), ModelFit("Gamma-Gamma", 8, True, "ok", {"p": 2.0})]
    recorded = {"fitted_as_of": "2026-03-01", "settings": settings, "fits": converged}
    assert fits_to_reuse(recorded, "2026-03-01", settings) == converged
    assert fits_to_reuse(recorded, "2026-03-07", settings) == converged
    assert fits_to_reuse(recorded, "2026-03-08", settings) is None  # seven days on: fitted again
    assert fits_to_reuse(recorded, "2026-02-28", settings) is None  # D moved back before the fit
    every_run = {**settings, "refit_every_days": 0}  # 0: fitted every run
    assert fits_to_reuse({**recorded, "settings": every_run}, "2026-03-01", every_run) is None
    assert fits_to_reuse(recorded, "2026-03-02", {**settings, "fit_sample_members": 500}) is None
    failed = [converged[0], ModelFit("Gamma-Gamma", 8, False, "ABNORMAL", {"p": 2.0})]
    assert fits_to_reuse({**recorded, "fits": failed}, "2026-03-02", settings) is None
    assert fits_to_reuse(None, "2026-03-02", settings) is None
