"""DuckDB results reach pandas through Arrow with the frame DuckDB's own .df() would give."""

import duckdb
import pandas as pd

from quality.frames import pandas_frame

QUERY = """
SELECT * FROM (VALUES
    ('M1', 3::BIGINT, NULL::BIGINT, 1.5::DOUBLE, 'vip'),
    ('M2', 4::BIGINT, 7::BIGINT, NULL::DOUBLE, NULL)
) AS t(member_id, purchases, gap, spend, segment)
"""


def test_a_frame_through_arrow_equals_duckdbs_own_frame():
    with duckdb.connect() as con:
        expected = con.sql(QUERY).df()
        frame = pandas_frame(con.sql(QUERY))
    assert frame.dtypes.to_dict() == expected.dtypes.to_dict()
    assert frame["gap"].dtype == pd.Int64Dtype() and frame["purchases"].dtype == "int64"
    pd.testing.assert_frame_equal(frame, expected)
