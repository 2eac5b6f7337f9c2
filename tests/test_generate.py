"""The synthetic landing generator (sample_chain): layout, line rules, member
lifecycle, returns, redemptions, heavy tail, determinism and encodings.

One small chain is generated per module and checked with DuckDB over the files
exactly as they landed (all text), the way ingestion will read them.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from sample_chain import GenerationSummary, generate_landing

CHAIN = dict(members=400, days=120, stores=5, start=date(2025, 1, 1), seed=11)
START, DAYS = CHAIN["start"], CHAIN["days"]
LAST = START + timedelta(days=DAYS - 1)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, GenerationSummary, list[str]]:
    out = tmp_path_factory.mktemp("chain")
    progress: list[str] = []
    summary = generate_landing(out, **CHAIN, progress=progress.append)
    return out, summary, progress


@pytest.fixture(scope="module")
def root(landing) -> Path:
    return landing[0]


@pytest.fixture(scope="module")
def db(root) -> duckdb.DuckDBPyConnection:
    """The landed files as text tables; POS lines carry the day and store of their file name."""
    con = duckdb.connect()

    def csv(pattern: str) -> str:
        return f"read_csv('{root}/{pattern}', all_varchar=true, header=true, filename=true)"

    con.sql(
        f"""create table lines as
        select *,
          strptime(regexp_extract(filename, 'pos_(\\d{{8}})_', 1), '%Y%m%d')::date as file_day,
          regexp_extract(filename, 'pos_\\d{{8}}_([A-Za-z0-9]+)\\.csv', 1) as file_store
        from {csv('pos/*.csv')}"""
    )
    con.sql(
        f"""create table members as
        select *, strptime(regexp_extract(filename, 'members_(\\d{{8}})', 1), '%Y%m%d')::date as file_day
        from {csv('members/*.csv')}"""
    )
    con.sql(
        f"""create table redemptions as
        select *, strptime(regexp_extract(filename, 'redemptions_(\\d{{8}})', 1), '%Y%m%d')::date as file_day
        from {csv('redemptions/*.csv')}"""
    )
    con.sql(f"create table stores as select * from read_csv('{root}/reference/stores.csv', all_varchar=true)")
    con.sql(f"create table products as select * from read_csv('{root}/reference/products.csv', all_varchar=true)")
    # One row per member: card, join date and the day they were cancelled (if ever).
    con.sql(
        """create table member_card as
        select member_id, any_value(card_no) card_no, count(distinct card_no) cards,
               any_value(join_date)::date join_date,
               min(updated_at::timestamp::date) filter (where status = 'cancelled') cancelled_on
        from members group by member_id"""
    )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.sql(sql).fetchall()[0][0]


def trading_days(stores_rows, start=START, days=DAYS) -> set[tuple[date, str]]:
    out = set()
    for store_id, opened_on, closed_on in stores_rows:
        opened = date.fromisoformat(opened_on)
        closed = date.fromisoformat(closed_on) if closed_on else None
        for i in range(days):
            d = start + timedelta(days=i)
            if opened <= d and (closed is None or d < closed):
                out.add((d, store_id))
    return out


# ---- determinism and encodings ---------------------------------------------------


def test_same_seed_gives_byte_identical_tree(root, tmp_path):
    generate_landing(tmp_path / "again", **CHAIN)
    assert tree_digest(tmp_path / "again") == tree_digest(root)


def test_other_seed_gives_other_data(root, tmp_path):
    generate_landing(tmp_path / "other", **{**CHAIN, "seed": 12})
    theirs, ours = tree_digest(tmp_path / "other"), tree_digest(root)
    assert theirs["reference/products.csv"] != ours["reference/products.csv"]
    shared = set(theirs) & set(ours)  # header-only files (quiet days) may coincide
    assert sum(theirs[f] != ours[f] for f in shared) > 0.75 * len(shared)


def test_gb18030_is_strict_gb18030_with_the_same_content(root, tmp_path):
    gb = tmp_path / "gb"
    generate_landing(gb, **CHAIN, encoding="gb18030")
    utf_files = sorted(p.relative_to(root) for p in root.rglob("*.csv"))
    assert sorted(p.relative_to(gb) for p in gb.rglob("*.csv")) == utf_files
    non_ascii = 0
    for rel in utf_files:
        raw = (gb / rel).read_bytes()
        text = raw.decode("gb18030", errors="strict")
        assert text == (root / rel).read_bytes().decode("utf-8"), rel
        if not text.isascii():
            non_ascii += 1
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
    # Products, members and every non-empty POS file carry Chinese text.
    assert non_ascii > len(utf_files) / 2


def test_dirty_is_deterministic_rare_and_rerunnable(root, tmp_path):
    import json

    out = tmp_path / "dirty"
    generate_landing(out, **CHAIN, dirty=True)
    first = tree_digest(out)
    generate_landing(out, **CHAIN, dirty=True)  # same arguments: same bytes, extra files not refused
    assert tree_digest(out) == first
    manifest = json.loads((out / "dirty_manifest.json").read_text(encoding="utf-8"))
    damaged_rows = sum(1 for d in manifest["damage"] if d["row"])
    lines = sum(p.read_bytes().count(b"\n") for p in (root / "pos").glob("*.csv"))
    assert 0 < damaged_rows < 0.02 * lines  # realistic: rare
    clean = tree_digest(root)
    changed = [f for f in clean if f in first and first[f] != clean[f]]
    assert 0 < len(changed) < 0.2 * len(clean)


def test_rerun_overwrites_but_refuses_foreign_files(tmp_path):
    small = dict(members=30, days=5, stores=3, seed=3)
    out = tmp_path / "landing"
    generate_landing(out, **small)
    before = tree_digest(out)
    generate_landing(out, **small)  # same arguments: same bytes, no complaint
    assert tree_digest(out) == before
    with pytest.raises(FileExistsError):
        generate_landing(out, **{**small, "days": 3})  # would leave days 4-5 of another run behind
    assert tree_digest(out) == before


# ---- layout and summary ------------------------------------------------------------


def test_summary_and_progress(landing, db):
    root, summary, progress = landing
    assert (summary.first_day, summary.last_day) == (START, LAST)
    assert (summary.members, summary.stores, summary.member_files) == (400, 5, DAYS)
    assert summary.out_dir == root
    assert summary.pos_files == len(list((root / "pos").glob("pos_*.csv")))
    assert summary.pos_lines == one(db, "select count(*) from lines")
    assert summary.transactions == one(db, "select count(distinct txn_id) from lines")
    assert summary.redemptions == one(db, "select count(*) from redemptions") > 0
    assert 15 <= len(progress) <= 25 and progress[-1].startswith(f"day {DAYS}/{DAYS}:")
    # ~50 lines per member and year
    assert 0.7 < summary.pos_lines / (50 * 400 * DAYS / 365) < 1.3


def test_every_day_has_a_members_and_a_redemptions_file(root):
    for i in range(DAYS):
        tag = (START + timedelta(days=i)).strftime("%Y%m%d")
        for name in (f"members/members_{tag}.csv", f"redemptions/redemptions_{tag}.csv"):
            first_line = (root / name).read_text(encoding="utf-8").split("\n", 1)[0]
            assert first_line.startswith(("member_id,", "redemption_id,")), name


def test_headers_are_the_contract_columns(root):
    from ingestion.contract import MEMBERS, POS_LINES, PRODUCTS, REDEMPTIONS, STORES

    samples = {
        "reference/stores.csv": STORES,
        "reference/products.csv": PRODUCTS,
        f"members/members_{START:%Y%m%d}.csv": MEMBERS,
        f"redemptions/redemptions_{LAST:%Y%m%d}.csv": REDEMPTIONS,
        next(p.relative_to(root).as_posix() for p in sorted((root / "pos").iterdir())): POS_LINES,
    }
    for rel, source in samples.items():
        raw = (root / rel).read_bytes()
        assert b"\r" not in raw
        assert raw.decode("utf-8").split("\n", 1)[0] == ",".join(c.name for c in source.columns), rel


def test_stores_trade_with_one_opening_and_one_closing(root, db):
    rows = db.sql("select store_id, opened_on, closed_on from stores order by store_id").fetchall()
    assert [r[0] for r in rows] == ["S001", "S002", "S003", "S004", "S005"]
    opened = [date.fromisoformat(r[1]) for r in rows]
    closed = [date.fromisoformat(r[2]) for r in rows if r[2]]
    assert sum(START < d <= LAST for d in opened) == 1
    assert len(closed) == 1 and START < closed[0] <= LAST
    assert one(db, "select count(distinct city) from stores where city is not null") >= 1
    expected = trading_days(rows)
    files = {
        (date(int(p.name[4:8]), int(p.name[8:10]), int(p.name[10:12])), p.stem.split("_")[2])
        for p in (root / "pos").glob("pos_*.csv")
    }
    assert files == expected  # a file for every trading store and day, none outside


def test_products(db):
    n, cats, own = db.sql(
        "select count(*), count(distinct category), avg((own_brand = 'true')::int) from products"
    ).fetchall()[0]
    assert 150 <= n <= 300 and 8 <= cats <= 12 and 0.1 < own < 0.6
    assert one(db, "select count(*) from products where not regexp_full_match(sku, 'SKU\\d{5}')") == 0
    # every line's sku/category is in the master
    assert one(db, "select count(*) from lines l anti join products p using (sku, category)") == 0


# ---- POS line rules ------------------------------------------------------------------


def test_lines_follow_the_contract(db):
    bad = db.sql(
        """select
          count(*) filter (where not regexp_full_match(qty, '-?[1-9][0-9]*')),
          count(*) filter (where not regexp_full_match(unit_price, '[0-9]+\\.[0-9]{2}')
                           or not regexp_full_match(discount, '[0-9]+\\.[0-9]{2}')
                           or not regexp_full_match(net_amount, '-?[0-9]+\\.[0-9]{2}')),
          count(*) filter (where discount::decimal(14,2) > abs(qty::int) * unit_price::decimal(14,2)),
          count(*) filter (where net_amount::decimal(14,2) <> sign(qty::int)
                              * (abs(qty::int) * unit_price::decimal(14,2) - discount::decimal(14,2))),
          count(*) filter (where txn_ts::timestamp::date <> file_day),
          count(*) filter (where strftime(txn_ts::timestamp, '%H:%M:%S') not between '09:00:00' and '22:00:00'),
          count(*) filter (where store_id <> file_store),
          count(*) filter (where not regexp_full_match(txn_id, file_store || '-\\d{8}-\\d{6}')),
          count(*) filter (where card_no is not null and not regexp_full_match(card_no, '\\d{13}'))
        from lines"""
    ).fetchall()[0]
    assert bad == (0,) * 9


def test_line_keys_are_unique_and_numbered(db):
    assert one(db, "select count(*) - count(distinct (txn_id, line_no)) from lines") == 0
    bad = one(
        db,
        """select count(*) from (
             select txn_id from lines group by txn_id
             having min(line_no::int) <> 1 or max(line_no::int) <> count(*)
                 or count(distinct filename) > 1 or count(distinct txn_ts) > 1
                 or count(distinct coalesce(card_no, '-')) > 1)""",
    )
    assert bad == 0


def test_member_sales_only_between_join_and_cancellation(db):
    assert one(db, "select count(*) from member_card where cards <> 1") == 0
    assert one(db, "select count(distinct card_no) - count(*) from member_card") == 0
    bad = db.sql(
        """select count(*) filter (where m.member_id is null),
                  count(*) filter (where l.file_day < m.join_date),
                  count(*) filter (where l.file_day >= m.cancelled_on)
           from lines l left join member_card m using (card_no)
           where l.card_no is not null"""
    ).fetchall()[0]
    assert bad == (0, 0, 0)
    assert one(db, "select count(*) from member_card where cancelled_on is not null") > 0


def test_returns_reference_an_earlier_purchase(db):
    db.sql("create or replace temp view ret as select * from lines where qty::int < 0")
    n_returns = one(db, "select count(*) from ret")
    purchase_lines = one(db, "select count(*) from lines where qty::int > 0 and card_no is not null")
    assert 0.01 < n_returns / purchase_lines < 0.05
    # return lines and only return lines name an original transaction
    assert one(db, "select count(*) from lines where (qty::int < 0) <> (original_txn_id is not null)") == 0
    assert one(db, "select count(*) from ret where card_no is null") == 0
    unmatched = one(
        db,
        """select count(*) from ret r where not exists (
             select 1 from lines p
             where p.txn_id = r.original_txn_id and p.card_no = r.card_no and p.sku = r.sku
               and p.category = r.category and p.unit_price = r.unit_price and p.store_id = r.store_id
               and p.qty::int >= -r.qty::int
               and p.file_day < r.file_day and r.file_day <= p.file_day + 14)""",
    )
    assert unmatched == 0
    # the purchase really is a purchase; the return transaction holds only return lines
    signs = db.sql(
        """select
             (select count(*) from (select txn_id from lines where txn_id in (select original_txn_id from ret)
                                    group by txn_id having sum(net_amount::decimal(14,2)) <= 0)),
             (select count(*) from (select txn_id from lines where txn_id in (select txn_id from ret)
                                    group by txn_id having max(qty::int) > 0))"""
    ).fetchall()[0]
    assert signs == (0, 0)


def test_spend_is_heavy_tailed(db):
    top1, top20 = db.sql(
        """with s as (select card_no, sum(net_amount::decimal(14,2)) spend from lines
                      where card_no is not null group by card_no having sum(net_amount::decimal(14,2)) > 0),
               r as (select spend, row_number() over (order by spend desc) rn, count(*) over () n from s)
           select sum(spend) filter (where rn <= greatest(1, floor(n * 0.01))) / sum(spend),
                  sum(spend) filter (where rn <= floor(n * 0.2)) / sum(spend)
           from r"""
    ).fetchall()[0]
    assert top1 >= 0.08
    assert top20 >= 0.45


def test_non_member_share_of_transactions(db):
    share = one(
        db,
        "select avg((card is null)::int) from (select txn_id, any_value(card_no) card from lines group by txn_id)",
    )
    assert 0.2 <= share <= 0.4


def test_a_one_off_big_spender_exists(db):
    """A card with a single purchase of 3,000+ yuan and nothing else (the pyramid's one-off guard)."""
    n = one(
        db,
        """select count(*) from (select card_no from lines where card_no is not null group by card_no
           having count(distinct txn_id) = 1 and sum(net_amount::decimal(14,2)) between 3000 and 20000)""",
    )
    assert n >= 1


def test_weekends_are_busier(db):
    weekend, weekday = db.sql(
        """select avg(n) filter (where dow in (0, 6)), avg(n) filter (where dow between 1 and 4)
           from (select file_day, dayofweek(file_day) dow, count(*) n from lines group by 1, 2)"""
    ).fetchall()[0]
    assert weekend > 1.15 * weekday


# ---- members -----------------------------------------------------------------------------


def test_member_rows(db):
    bad = db.sql(
        """select
             count(*) filter (where updated_at::timestamp::date <> file_day),
             count(*) filter (where not regexp_full_match(member_id, 'M\\d{7}')),
             count(*) filter (where mobile is not null and not regexp_full_match(mobile, '1[3-9]\\d{9}')),
             count(*) filter (where coalesce(gender, 'F') not in ('F', 'M')),
             count(*) filter (where status not in ('active', 'cancelled')),
             count(*) filter (where activated not in ('true', 'false') or marketing_consent not in ('true', 'false')),
             count(*) filter (where not regexp_full_match(name, '[\\x{4e00}-\\x{9fff}]{2,4}')),
             count(*) filter (where not starts_with(enrolled_by, join_store_id || '-E')),
             count(*) filter (where bonus_category is not null
                              and bonus_category not in (select category from products)),
             count(*) - count(distinct (member_id, updated_at)),
             count(*) - count(distinct (member_id, file_day))
           from members"""
    ).fetchall()[0]
    assert bad == (0,) * 11


def test_members_appear_when_they_join(db):
    assert one(db, "select count(distinct member_id) from members") == 400
    # existing members are all in the first day's file; newcomers in their join day's file
    bad = one(
        db,
        f"""select count(*) from (select member_id, min(file_day) first_file, any_value(join_date)::date j
                                 from members group by member_id)
            where first_file <> greatest(j, date '{START}')""",
    )
    assert bad == 0
    existing = one(db, f"select count(distinct member_id) from members where join_date::date < date '{START}'")
    assert 0.5 < existing / 400 < 0.7
    assert one(db, f"select min(join_date::date) from members") >= START - timedelta(days=3 * 365)
    # the join store traded on the join day
    rows = db.sql("select store_id, opened_on, closed_on from stores").fetchall()
    allowed = trading_days(rows, START - timedelta(days=3 * 365), 3 * 365 + DAYS)
    joins = db.sql("select distinct join_date::date, join_store_id from members").fetchall()
    assert set(joins) <= allowed


def test_member_changes_stay_consistent(db):
    # a cancelled member is never active again; activation is never withdrawn
    bad = one(
        db,
        """select count(*) from (
             select member_id, status, activated,
                    lag(status) over w prev_status, lag(activated) over w prev_activated
             from members window w as (partition by member_id order by updated_at))
           where (prev_status = 'cancelled' and status = 'active')
              or (prev_activated = 'true' and activated = 'false')""",
    )
    assert bad == 0
    updates = one(db, f"select count(*) from members where file_day > date '{START}' and join_date::date < file_day")
    assert updates > 0


def test_population_shapes(tmp_path):
    """Shares of the personal attributes, on a bigger population over a few days."""
    out = tmp_path / "people"
    generate_landing(out, members=5000, days=3, stores=3, seed=5)
    con = duckdb.connect()
    con.sql(
        f"""create table m as select * from read_csv('{out}/members/*.csv', all_varchar=true)
            qualify row_number() over (partition by member_id order by updated_at) = 1"""
    )
    shares = con.sql(
        f"""select
              avg((gender = 'F')::int), avg((gender is null)::int), avg((mobile is null)::int),
              avg((activated = 'true')::int), avg((marketing_consent = 'true')::int),
              avg((bonus_category is not null)::int),
              avg((date_diff('year', birth_date::date, date '2025-01-01') < 14)::int),
              max(date_diff('year', birth_date::date, date '2025-01-01')),
              min(date_diff('year', birth_date::date, date '2025-01-01')),
              avg((join_date::date < date '2025-01-01')::int)
            from m"""
    ).fetchall()[0]
    female, no_gender, no_mobile, activated, consent, bonus, children, oldest, youngest, existing = shares
    assert female > 0.75 and 0 < no_gender < 0.1
    assert 0.02 < no_mobile < 0.1
    assert 0.75 < activated < 0.85 and 0.65 < consent < 0.75 and 0.35 < bonus < 0.45
    assert 0.003 < children < 0.03 and 7 <= youngest <= 9 and oldest <= 71
    assert 0.58 < existing < 0.62


def test_small_chains_have_no_store_events(tmp_path):
    out = tmp_path / "tiny"
    summary = generate_landing(out, members=20, days=6, stores=2, seed=1)
    assert summary.pos_files == 12  # both stores, every day (header-only when nothing sold)
    con = duckdb.connect()
    assert con.sql(f"select count(closed_on) from read_csv('{out}/reference/stores.csv', all_varchar=true)"
                   ).fetchall()[0][0] == 0


# ---- redemptions ---------------------------------------------------------------------------


def test_redemptions_come_from_activated_active_cards(db):
    bad = db.sql(
        """select
             count(*) filter (where redeemed_at::timestamp::date <> file_day),
             count(*) filter (where points::int <= 0 or points::int % 20 <> 0),
             count(*) - count(distinct redemption_id),
             count(*) filter (where reason is null)
           from redemptions"""
    ).fetchall()[0]
    assert bad == (0, 0, 0, 0)
    # the member's state as of the redemption: known card, activated, not cancelled
    state = one(
        db,
        """select count(*) from redemptions r
           left join member_card c using (card_no)
           left join lateral (select activated, status from members m
                              where m.member_id = c.member_id and m.updated_at::timestamp <= r.redeemed_at::timestamp
                              order by m.updated_at desc limit 1) s on true
           where c.member_id is null or s.activated is distinct from 'true' or s.status is distinct from 'active'
              or r.file_day >= c.cancelled_on""",
    )
    assert state == 0
    rows = db.sql("select store_id, opened_on, closed_on from stores").fetchall()
    assert set(db.sql("select file_day, store_id from redemptions").fetchall()) <= trading_days(rows)
