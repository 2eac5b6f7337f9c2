-- Hand-written baseline for bench/pipeline_bench.py: the same landing files, loaded with
-- DuckDB's read_csv and turned into the tier list, the pyramid and the lapsed list in one
-- script, with no validation, no quarantine, no lineage and no orchestration. Written as an expert
-- would for files of a known layout: explicit column names and types, no per-file sniffing and no
-- union_by_name (which sniffs every one of ~7,300 files: 344 s of 363 s at 200k members).
-- Placeholders: {landing} (directory), {as_of} (YYYY-MM-DD).
-- one pass over the lines, straight to transactions (the 50M lines themselves are never stored:
-- writing them to the database file cost ~250 s at 1M members)
CREATE TABLE txns AS
SELECT txn_id, any_value(card_no) AS card_no, min(CAST(txn_ts AS DATE)) AS day, sum(net_amount) AS amount
FROM read_csv('{landing}/pos/pos_*.csv', filename = true, header = true, auto_detect = false,
    columns = {'txn_id': 'VARCHAR', 'line_no': 'INTEGER', 'store_id': 'VARCHAR', 'txn_ts': 'TIMESTAMP',
               'card_no': 'VARCHAR', 'sku': 'VARCHAR', 'category': 'VARCHAR', 'qty': 'DECIMAL(12,3)',
               'unit_price': 'DECIMAL(14,2)', 'discount': 'DECIMAL(14,2)', 'net_amount': 'DECIMAL(14,2)',
               'original_txn_id': 'VARCHAR'})
WHERE CAST(regexp_extract(filename, 'pos_(\d{8})_', 1) AS INTEGER) <= CAST(strftime(DATE '{as_of}', '%Y%m%d') AS INTEGER)
GROUP BY txn_id;

CREATE TABLE member_rows AS
SELECT * FROM read_csv('{landing}/members/members_*.csv', filename = true, header = true, auto_detect = false,
    columns = {'member_id': 'VARCHAR', 'card_no': 'VARCHAR', 'name': 'VARCHAR', 'gender': 'VARCHAR',
               'birth_date': 'DATE', 'mobile': 'VARCHAR', 'city': 'VARCHAR', 'address': 'VARCHAR',
               'join_date': 'DATE', 'join_store_id': 'VARCHAR', 'enrolled_by': 'VARCHAR', 'activated': 'BOOLEAN',
               'status': 'VARCHAR', 'marketing_consent': 'BOOLEAN', 'bonus_category': 'VARCHAR',
               'updated_at': 'TIMESTAMP'})
WHERE CAST(regexp_extract(filename, 'members_(\d{8})', 1) AS INTEGER) <= CAST(strftime(DATE '{as_of}', '%Y%m%d') AS INTEGER);

CREATE TABLE members AS
SELECT * FROM member_rows
QUALIFY row_number() OVER (PARTITION BY member_id ORDER BY updated_at DESC) = 1;

CREATE TABLE member_days AS
SELECT m.member_id, t.day, sum(t.amount) AS spend, count(*) FILTER (WHERE t.amount > 0) AS purchases
FROM txns t JOIN members m ON m.card_no = t.card_no AND t.day >= m.join_date
GROUP BY m.member_id, t.day;

CREATE TABLE tier_list AS
WITH window_totals AS (
    -- the trailing year aggregated first, then joined to the members
    SELECT member_id, sum(spend) AS spend, sum(purchases) AS transactions,
           count(DISTINCT date_trunc('month', day)) FILTER (WHERE purchases > 0) AS purchase_months
    FROM member_days
    WHERE day BETWEEN DATE '{as_of}' - 364 AND DATE '{as_of}'
    GROUP BY member_id
),
member_window AS (
    SELECT m.member_id, coalesce(w.spend, 0) AS spend, coalesce(w.transactions, 0) AS transactions,
           coalesce(w.purchase_months, 0) AS purchase_months
    FROM members m LEFT JOIN window_totals w USING (member_id)
    WHERE m.status <> 'cancelled'
),
ranked AS (
    SELECT *, CASE WHEN spend > 0 THEN rank_ END AS spend_rank,
           sum(CASE WHEN spend > 0 THEN 1 ELSE 0 END) OVER () AS n  -- count(*) FILTER (...) OVER () is quadratic-slow in DuckDB 2.0
    FROM (SELECT *, row_number() OVER (ORDER BY spend > 0 DESC, spend DESC, member_id) AS rank_ FROM member_window)
)
SELECT member_id,
       CASE WHEN spend >= 3990 OR transactions >= 200 THEN 'queen'
            WHEN spend >= 1990 OR transactions >= 100 THEN 'goddess' ELSE 'charm' END AS tier,
       CASE WHEN spend_rank IS NULL THEN 'inactive'
            WHEN spend_rank <= n // 100 THEN CASE WHEN purchase_months < 2 THEN 'ordinary' ELSE 'vip' END
            WHEN spend_rank <= n * 5 // 100 THEN CASE WHEN purchase_months < 2 THEN 'ordinary' ELSE 'key' END
            WHEN spend_rank <= n * 20 // 100 THEN 'ordinary' ELSE 'small' END AS segment,
       spend AS trailing_spend, transactions AS trailing_transactions
FROM ranked;

CREATE TABLE lapsed AS
WITH purchase_days AS (
    SELECT member_id, day, lag(day) OVER (PARTITION BY member_id ORDER BY day) AS previous_day
    FROM member_days WHERE purchases > 0
),
rhythm AS (
    SELECT member_id, max(day) AS last_day, count(*) AS purchase_days,
           median(date_diff('day', previous_day, day)) AS median_gap
    FROM purchase_days GROUP BY member_id
),
active_value AS (
    SELECT r.member_id, r.last_day, r.purchase_days, r.median_gap, coalesce(sum(d.spend), 0) AS value_spend
    FROM rhythm r
    LEFT JOIN member_days d ON d.member_id = r.member_id AND d.day BETWEEN r.last_day - 364 AND r.last_day
    GROUP BY ALL
),
cutoffs AS (
    SELECT min(trailing_spend) FILTER (WHERE segment = 'vip') AS vip_cut,
           min(trailing_spend) FILTER (WHERE segment = 'key') AS key_cut,
           min(trailing_spend) FILTER (WHERE segment = 'ordinary') AS ordinary_cut
    FROM tier_list
)
SELECT a.member_id, date_diff('day', a.last_day, DATE '{as_of}') AS days_since,
       CASE WHEN date_diff('day', a.last_day, DATE '{as_of}') > 90 THEN 'lapsed' ELSE 'at_risk' END AS status,
       CASE WHEN a.value_spend >= coalesce(c.key_cut, c.vip_cut) THEN 'must_win_back'
            WHEN a.value_spend >= c.ordinary_cut THEN 'win_back' ELSE 'opportunistic' END AS priority
FROM active_value a CROSS JOIN cutoffs c JOIN members m USING (member_id)
WHERE m.status <> 'cancelled'
  AND (date_diff('day', a.last_day, DATE '{as_of}') > 90
       OR (a.purchase_days >= 3 AND date_diff('day', a.last_day, DATE '{as_of}') > 2 * a.median_gap));
