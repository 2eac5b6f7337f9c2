"""The CRM-insight marts on a published day of a generated chain with 15 months of history (a
year-ago comparison needs one): each README query runs on the serving copy and returns rows,
and the marts agree with the member-level marts they summarise (figures a BI user would
cross-check)."""

from __future__ import annotations

import re
from decimal import Decimal
from datetime import date, timedelta

import duckdb
import pytest

from conftest import REPO_ROOT, SMALL_CHAIN
from published_run import published_run

# The small chain's members and stores over 460 days: D is 2026-04-05, so the year-ago windows
# and month-ends of the value-decline list and the segment history hold data.
LONG_CHAIN = {**SMALL_CHAIN, "days": 460}
LONG_CHAIN_AS_OF = (SMALL_CHAIN["start"] + timedelta(days=LONG_CHAIN["days"] - 1)).isoformat()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from sample_chain import generate_landing

    landing = tmp_path_factory.mktemp("long_landing")
    generate_landing(landing, **LONG_CHAIN)
    return published_run(tmp_path_factory, landing, as_of=LONG_CHAIN_AS_OF, name="long_chain_run")


@pytest.fixture(scope="module")
def served(published):
    with duckdb.connect(str(published.data_dir / "serving" / "marts.duckdb"), read_only=True) as con:
        yield con


def readme_queries() -> dict[str, str]:
    """The SQL blocks of the README's CRM-insights section, by the mart their first line names."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## CRM insights", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    return {re.match(r"-- (\w+):", block).group(1): block for block in blocks}


def test_every_new_mart_has_a_readme_query():
    served_marts = {"points_liability", "points_monthly_flows", "new_member_conversion", "member_segment_history",
                    "segment_migrations", "value_decline_warnings", "segment_summary", "segment_summary_history",
                    "store_member_sales_share", "upgrade_nudges", "member_clv"}
    assert served_marts == set(readme_queries())


@pytest.mark.parametrize("mart", sorted(readme_queries()))
def test_each_readme_query_returns_rows_on_the_serving_copy(served, mart):
    rows = served.execute(readme_queries()[mart]).fetchall()
    assert rows, f"the README query on {mart} returned no row"
    assert any(value not in (None, 0) for row in rows for value in row)


def test_points_liability_is_the_positive_balances_of_non_cancelled_members(served):
    [(liability, value)] = served.execute(
        "SELECT sum(outstanding_points), sum(outstanding_value_yuan) FROM points_liability").fetchall()
    [(balances,)] = served.execute(
        "SELECT sum(b.points_balance) FROM member_points_balances b JOIN dim_members m USING (member_id) "
        "WHERE m.status <> 'cancelled' AND b.points_balance > 0").fetchall()
    assert liability == balances > 0
    assert value == Decimal(balances) / 20  # points.points_per_yuan_redeemed: exact to the fen


def test_points_flows_add_up_to_the_balances(served):
    [(net,)] = served.execute("SELECT sum(net_points) FROM points_monthly_flows").fetchall()
    [(balances,)] = served.execute("SELECT sum(points_balance) FROM member_points_balances").fetchall()
    assert net == balances
    [(redeemed,)] = served.execute("SELECT sum(redeemed_points) FROM points_monthly_flows").fetchall()
    assert redeemed > 0  # the generated chain redeems points


def test_conversion_counts_every_member_once_per_window_and_closes_windows(served, published):
    as_of = date.fromisoformat(published.as_of)
    [(members,)] = served.execute(
        "SELECT count(*) FROM dim_members WHERE join_date <= ?", [as_of]).fetchall()
    per_window = dict(served.execute(
        "SELECT window_days, sum(new_members) FROM new_member_conversion GROUP BY 1").fetchall())
    assert set(per_window) == {30, 60, 90} and set(per_window.values()) == {members}
    rows = served.execute(
        "SELECT join_month, window_days, new_members, converted_members FROM new_member_conversion").fetchall()
    for join_month, window_days, new_members, converted in rows:
        month_end = (join_month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        closed = month_end + timedelta(days=window_days) <= as_of
        assert (converted is not None) == closed
        assert converted is None or 0 <= converted <= new_members
    assert any(converted for *_, converted in rows)


def test_migrations_account_for_every_member_of_both_month_ends(served):
    rows = served.execute("""
        WITH moved AS (
            SELECT month_end,
                   sum(members) FILTER (WHERE to_segment <> '(none)') AS into_month,
                   sum(members) FILTER (WHERE from_segment <> '(none)') AS out_of_previous
            FROM segment_migrations GROUP BY month_end),
        drawn AS (SELECT month_end, count(*) AS members FROM member_segment_history GROUP BY month_end)
        SELECT moved.month_end, moved.into_month, now.members, moved.out_of_previous, previous.members
        FROM moved
        JOIN drawn now ON now.month_end = moved.month_end
        JOIN drawn previous ON previous.month_end = last_day(moved.month_end - INTERVAL 1 MONTH)
    """).fetchall()
    assert len(rows) >= 12
    assert all(into == now and out == previous for _, into, now, out, previous in rows)


def test_value_decline_lists_last_years_big_customers_whose_spend_halved(served, published):
    rows = served.execute("""
        SELECT w.member_id, w.segment_a_year_ago, h.segment, w.recent_spend, w.earlier_spend, w.reference_month_end
        FROM value_decline_warnings w
        LEFT JOIN member_segment_history h
            ON h.member_id = w.member_id AND h.month_end = w.reference_month_end""").fetchall()
    assert rows
    for _, then, history, recent, earlier, reference in rows:
        assert then == history and then in ("vip", "key")
        assert recent < earlier / 2 and earlier > 0
        assert reference == date(2025, 3, 31)  # a year before 2026-03-31, the last month-end before D
    assert LONG_CHAIN_AS_OF == "2026-04-05" == published.as_of


def test_member_clv_scores_the_summarised_members_and_only_what_the_models_can(served, published):
    rows = served.execute("""
        SELECT s.member_id, s.frequency, s.average_spend, c.p_alive, c.expected_purchase_days, c.clv
        FROM member_rfm_summary s FULL JOIN member_clv c USING (member_id)""").fetchall()
    assert len(rows) > 300
    for member_id, frequency, average_spend, p_alive, expected, clv in rows:
        assert frequency is not None and p_alive is not None, member_id  # one row per summarised member
        assert 0 <= p_alive <= 1 and expected >= 0
        assert (clv is not None) == (frequency > 0 and average_spend > 0), member_id
    # a member seen recently and often is more likely alive than one long gone
    [(recent, gone)] = served.execute("""
        SELECT avg(p_alive) FILTER (WHERE l.member_id IS NULL AND s.frequency >= 3),
               avg(p_alive) FILTER (WHERE l.status = 'lapsed' AND s.frequency >= 3)
        FROM member_clv c JOIN member_rfm_summary s USING (member_id)
        LEFT JOIN lapsed_customers l USING (member_id)""").fetchall()
    assert recent > gone


def test_the_fit_reports_convergence_in_the_assets_metadata(published):
    import dagster as dg

    key = dg.AssetKey(["marts", "member_clv"])
    with dg.DagsterInstance.from_config(str(published.dagster_home)) as instance:
        metadata = instance.get_latest_materialization_event(key).asset_materialization.metadata
        [check] = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(key, "clv_fit_converged"), limit=1)
    fits = metadata["fits"].value
    assert metadata["converged"].value is True and set(fits) == {"BG/NBD", "Gamma-Gamma"}
    assert all(fit["converged"] and fit["members_fitted"] > 100 for fit in fits.values())
    assert check.evaluation.passed and check.evaluation.severity == dg.AssetCheckSeverity.WARN


def test_later_days_score_with_the_recorded_fit_until_it_is_refit_every_days_old(published, tmp_path):
    """member_clv materialized on a copy of the published warehouse for later days: within
    clv.refit_every_days (7) of the fit it fits nothing and scores with the recorded parameters
    (the same summary, so the same p_alive); on the seventh day after it, it fits again."""
    import shutil

    import dagster as dg

    from orchestration.defs.insights.assets import MEMBER_CLV, member_clv
    from orchestration.defs.resources import WarehouseResource

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(published.data_dir / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    warehouse = WarehouseResource(data_dir=str(data_dir), landing_dir=str(published.landing))
    fitted_on = date.fromisoformat(published.as_of)

    def score(day: date):
        with dg.instance_for_test() as instance:
            result = dg.materialize([member_clv], partition_key=day.isoformat(), instance=instance,
                                    resources={"warehouse": warehouse})
            [materialization] = result.asset_materializations_for_node(member_clv.op.name)
        assert materialization.asset_key == MEMBER_CLV
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
            p_alive = dict(con.execute("SELECT member_id, p_alive FROM marts.member_clv").fetchall())
            recorded = con.execute("SELECT as_of_date, fitted_as_of FROM meta.clv_fit").fetchall()
        return {name: value.value for name, value in materialization.metadata.items()}, p_alive, recorded

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        published_p_alive = dict(con.execute("SELECT member_id, p_alive FROM marts.member_clv").fetchall())
    later = fitted_on + timedelta(days=6)
    metadata, p_alive, recorded = score(later)
    assert (metadata["refitted"], metadata["fitted_as_of"]) == (False, fitted_on.isoformat())
    assert recorded == [(later, fitted_on)]
    assert p_alive == published_p_alive and len(p_alive) > 100

    week_on = fitted_on + timedelta(days=7)
    metadata, p_alive, recorded = score(week_on)
    assert (metadata["refitted"], metadata["fitted_as_of"]) == (True, week_on.isoformat())
    assert metadata["converged"] is True and recorded == [(week_on, week_on)]
    assert set(p_alive) == set(published_p_alive)


def test_the_win_back_list_carries_p_alive_and_puts_the_likely_alive_first(published):
    import csv

    extract = published.data_dir / "outbox" / published.as_of / "lapsed_customers.csv"
    with extract.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))  # in the file's order
    with duckdb.connect(str(published.data_dir / "warehouse.duckdb"), read_only=True) as con:
        stored = dict(con.execute("SELECT member_id, p_alive FROM marts.member_clv").fetchall())
    assert len(rows) > 10
    assert all(Decimal(row["p_alive"]) == stored[row["member_id"]] for row in rows)
    order = {"must_win_back": 1, "win_back": 2, "opportunistic": 3}
    keys = [(order[row["winback_priority"]], -Decimal(row["p_alive"])) for row in rows]
    assert keys == sorted(keys)
    assert len({row["winback_priority"] for row in rows}) >= 2
