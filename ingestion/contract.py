"""The landing-file contract (shared/spec/data-contract.md) as data.

One `Source` per kind of landing file: where its files live, how their names
carry the business day, and the typed columns of the raw table they load into.
Everything else in ingestion (reading, validation, DDL) is driven from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # DuckDB/Spark-portable SQL type of the raw table column
    required: bool = True  # a file without this column is rejected whole
    nullable: bool = False  # an empty cell is allowed
    aliases: tuple[str, ...] = ()  # other header spellings (Chinese exports)


@dataclass(frozen=True)
class Source:
    name: str  # also the raw table name: raw.<name>
    folder: str  # sub-folder of the landing directory
    file_pattern: str  # regex on the file name; group "day" is YYYYMMDD
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # natural key of a row
    snapshot: bool = False  # a full snapshot: a new version replaces all rows
    extra: dict = field(default_factory=dict)
    # Copied to the Parquet lake (Spark's input), None = every column. A source with PII names
    # the columns the dbt models read, so a column added to the contract reaches the lake only
    # when a model needs it.
    lake_columns: tuple[str, ...] | None = None
    restricted: bool = False  # holds member PII: owner-only in the lake
    # the column naming a store of the stores file: checked against it (stores load first)
    store_column: str | None = None

    @property
    def lake_column_defs(self) -> tuple[Column, ...]:
        """Columns of the lake files, lineage included (business_day is the Hive partition)."""
        names = self.lake_columns or tuple(c.name for c in self.columns)
        return tuple(self.column(name) for name in names) + LINEAGE_COLUMNS

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def business_day(self, file_name: str) -> date | None:
        """The business day a file is for, from its name (None for snapshots)."""
        match = re.fullmatch(self.file_pattern, file_name)
        if match is None:
            raise ValueError(f"{file_name}: name does not match {self.file_pattern}")
        day = match.groupdict().get("day")
        return datetime.strptime(day, "%Y%m%d").date() if day else None

    def matches(self, file_name: str) -> bool:
        return re.fullmatch(self.file_pattern, file_name) is not None


_DATA_SUFFIX = r"\.(?:csv|csv\.gz|parquet)"
# A POS line's net_amount may differ from sign(qty) * (|qty| * unit_price - discount) by this much.
NET_AMOUNT_TOLERANCE = 0.01

TEXT = "VARCHAR"
MONEY = "DECIMAL(14,2)"
QTY = "DECIMAL(12,3)"

POS_LINES = Source(
    name="pos_lines",
    folder="pos",
    file_pattern=r"pos_(?P<day>\d{8})_(?P<store>[A-Za-z0-9-]+)" + _DATA_SUFFIX,
    store_column="store_id",
    key=("txn_id", "line_no"),
    columns=(
        Column("txn_id", TEXT, aliases=("交易号",)),
        Column("line_no", "INTEGER", aliases=("行号",)),
        Column("store_id", TEXT, aliases=("门店",)),
        Column("txn_ts", "TIMESTAMP", aliases=("交易时间",)),
        Column("card_no", TEXT, nullable=True, aliases=("会员卡号",)),
        Column("sku", TEXT, aliases=("商品编码",)),
        Column("category", TEXT, aliases=("品类",)),
        Column("qty", QTY, aliases=("数量",)),
        Column("unit_price", MONEY, aliases=("单价",)),
        Column("discount", MONEY, aliases=("折扣",)),
        Column("net_amount", MONEY, aliases=("实收金额",)),
        Column("original_txn_id", TEXT, required=False, nullable=True, aliases=("原交易号",)),
    ),
)

MEMBERS = Source(
    name="members",
    folder="members",
    file_pattern=r"members_(?P<day>\d{8})" + _DATA_SUFFIX,
    store_column="join_store_id",
    key=("member_id", "updated_at"),
    columns=(
        Column("member_id", TEXT, aliases=("会员编号",)),
        Column("card_no", TEXT, aliases=("会员卡号",)),
        Column("name", TEXT, nullable=True, aliases=("姓名",)),
        Column("gender", TEXT, nullable=True, aliases=("性别",)),
        Column("birth_date", "DATE", nullable=True, aliases=("生日",)),
        Column("mobile", TEXT, nullable=True, aliases=("手机",)),
        Column("city", TEXT, nullable=True, aliases=("城市",)),
        Column("address", TEXT, required=False, nullable=True, aliases=("地址",)),
        Column("join_date", "DATE", aliases=("入会日期",)),
        Column("join_store_id", TEXT, aliases=("开卡门店",)),
        Column("enrolled_by", TEXT, nullable=True, aliases=("建档人",)),
        Column("activated", "BOOLEAN", aliases=("是否激活",)),
        Column("status", TEXT, aliases=("状态",)),
        Column("marketing_consent", "BOOLEAN", aliases=("营销同意",)),
        Column("bonus_category", TEXT, required=False, nullable=True, aliases=("加倍品类",)),
        Column("updated_at", "TIMESTAMP", aliases=("更新时间",)),
    ),
    restricted=True,
    # What stg_members__members reads. The PII among it is what the outreach lists need:
    # name (lapsed extract, birthday list; masked names in marts), mobile (lapsed extract and
    # its valid-mobile rule, birthday list; masked mobiles), birth_date (the under-14 rule,
    # birthday list and birthday bonus), address (birthday list contacts: the gift is sent).
    lake_columns=("member_id", "card_no", "name", "gender", "birth_date", "mobile", "city", "address",
                  "join_date", "join_store_id", "enrolled_by", "activated", "status",
                  "marketing_consent", "bonus_category", "updated_at"),
)

REDEMPTIONS = Source(
    name="redemptions",
    folder="redemptions",
    file_pattern=r"redemptions_(?P<day>\d{8})" + _DATA_SUFFIX,
    store_column="store_id",
    key=("redemption_id",),
    columns=(
        Column("redemption_id", TEXT, aliases=("兑换单号",)),
        Column("card_no", TEXT, aliases=("会员卡号",)),
        Column("redeemed_at", "TIMESTAMP", aliases=("兑换时间",)),
        Column("store_id", TEXT, aliases=("门店",)),
        Column("points", "INTEGER", aliases=("积分",)),
        Column("reason", TEXT, required=False, nullable=True, aliases=("原因",)),
    ),
)

ADJUSTMENTS = Source(
    name="adjustments",
    folder="adjustments",
    file_pattern=r"adjustments_(?P<day>\d{8})" + _DATA_SUFFIX,
    key=("adjustment_id",),
    columns=(
        Column("adjustment_id", TEXT, aliases=("调整单号",)),
        Column("member_id", TEXT, aliases=("会员编号",)),
        Column("adjusted_at", "TIMESTAMP", aliases=("调整时间",)),
        Column("points", "INTEGER", aliases=("积分",)),
        Column("reason", TEXT, nullable=True, aliases=("原因",)),
    ),
)

STORES = Source(
    name="stores",
    folder="reference",
    file_pattern=r"stores" + _DATA_SUFFIX,
    key=("store_id",),
    snapshot=True,
    columns=(
        Column("store_id", TEXT, aliases=("门店",)),
        Column("name", TEXT, aliases=("门店名称",)),
        Column("city", TEXT, nullable=True, aliases=("城市",)),
        Column("opened_on", "DATE", aliases=("开业日期",)),
        Column("closed_on", "DATE", required=False, nullable=True, aliases=("闭店日期",)),
    ),
)

PRODUCTS = Source(
    name="products",
    folder="reference",
    file_pattern=r"products" + _DATA_SUFFIX,
    key=("sku",),
    snapshot=True,
    columns=(
        Column("sku", TEXT, aliases=("商品编码",)),
        Column("name", TEXT, aliases=("商品名称",)),
        Column("category", TEXT, aliases=("品类",)),
        Column("brand", TEXT, nullable=True, aliases=("品牌",)),
        Column("own_brand", "BOOLEAN", aliases=("自有品牌",)),
    ),
)

SOURCES: tuple[Source, ...] = (STORES, PRODUCTS, MEMBERS, POS_LINES, REDEMPTIONS, ADJUSTMENTS)
SOURCES_BY_NAME = {s.name: s for s in SOURCES}

# Lineage columns every raw row carries.
LINEAGE_COLUMNS = (
    Column("business_day", "DATE", nullable=True),  # from the file name; null for snapshots
    Column("_source_file", TEXT),  # path relative to the landing directory
    Column("_row_number", "INTEGER"),  # 1-based data row within the file
)


def raw_table_ddl(source: Source) -> str:
    cols = ",\n  ".join(f"{c.name} {c.sql_type}" for c in source.columns + LINEAGE_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {source.table} (\n  {cols}\n)"


BOOKKEEPING_DDL = (
    """CREATE TABLE IF NOT EXISTS raw.ingested_files (
  file_name VARCHAR NOT NULL,        -- path relative to the landing directory
  source VARCHAR NOT NULL,
  business_day DATE,
  sha256 VARCHAR NOT NULL,
  size_bytes BIGINT NOT NULL,
  status VARCHAR NOT NULL,           -- loaded | rejected | superseded
  reason VARCHAR,                    -- why a file was rejected whole
  rows_read BIGINT NOT NULL,
  rows_loaded BIGINT NOT NULL,
  rows_quarantined BIGINT NOT NULL,
  replaces_sha256 VARCHAR,           -- a correction: the content it replaced
  loaded_at TIMESTAMP NOT NULL
)""",
    # added with issue 3 (ALTER so that existing warehouses get them too)
    "ALTER TABLE raw.ingested_files ADD COLUMN IF NOT EXISTS encoding VARCHAR",       # utf-8 | gb18030 | parquet
    "ALTER TABLE raw.ingested_files ADD COLUMN IF NOT EXISTS extra_columns VARCHAR",  # unknown headers, JSON list
    "ALTER TABLE raw.ingested_files ADD COLUMN IF NOT EXISTS mtime_ns BIGINT",        # file mtime when read
    """CREATE TABLE IF NOT EXISTS raw.extra_columns (
  file_name VARCHAR NOT NULL,        -- cells of columns the contract does not know, kept aside
  sha256 VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  business_day DATE,
  row_number INTEGER NOT NULL,
  cells VARCHAR NOT NULL             -- JSON object header -> text cell
)""",
    """CREATE TABLE IF NOT EXISTS raw.quarantined_rows (
  file_name VARCHAR NOT NULL,
  sha256 VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  business_day DATE,
  row_number INTEGER NOT NULL,       -- 1-based data row, header excluded
  reasons VARCHAR NOT NULL,          -- '; '-joined rule names with detail
  raw_row VARCHAR NOT NULL           -- the row as read, JSON object of text cells ({"_line": text}
                                     -- for a row whose field count differs from the header's)
)""",
)


def create_raw_schema(con) -> None:
    """Create the raw schema and tables (idempotent)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for source in SOURCES:
        con.execute(raw_table_ddl(source))
    for ddl in BOOKKEEPING_DDL:
        con.execute(ddl)
