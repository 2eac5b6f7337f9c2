-- Quality (warning, not a gate): POS lines whose card matches no member card. They stay
-- in the sales fact as non-member sales; this reports how many there are per card, over the
-- recent days (macros/quality_window.sql).
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_sales_lines'}}}) }}

select
    lines.card_no,
    count(*) as lines_with_unknown_card
from {{ ref('fct_sales_lines') }} as lines
where lines.card_no is not null
    and lines.business_day >= {{ quality_window_start() }}
    and not exists (
        select 1
        from {{ ref('int_members_as_of') }} as members
        where members.card_no = lines.card_no
    )
group by lines.card_no
