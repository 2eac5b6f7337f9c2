{{ config(schema='meta') }}
-- The month-ends <= D this run evaluates again (macro first_month_end_to_evaluate): those
-- reached since the last successful build, and those on or after the earliest day whose member
-- spend may have changed; every month-end <= D on a first build or a full refresh. The month-end
-- history tables (materialization month_end_history) are rebuilt only when it has a row.
select month_end
from {{ ref('int_month_ends') }}
where month_end <= {{ as_of_date() }}
    and month_end >= {{ first_month_end_to_evaluate() }}
