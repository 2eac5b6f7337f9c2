{#
  The segment and store summary of section 9, one place for D (segment_summary) and every
  month-end (segment_summary_history). `members`: a CTE with period_end, member_id,
  join_store_id, segment and trailing_spend, holding each period's non-cancelled members.
  Per period and scope (the chain: join_store_id '(chain)'; each enrolment store) and segment:
  members, trailing spend and its share of the scope's trailing spend; per scope, repeated on its
  segment rows: members N, trailing spend, and the 80/20 check, the share of the scope's spend
  taken by its top floor(summary.top_share x N) members (by trailing spend, ties by member_id).
  Emits CTEs to follow a `with ... ,`; the model reads segment_summary_rows.
#}
{% macro segment_summary_ctes(members) -%}
    {%- set top_share = program_number('summary.top_share', min=0, max=1) -%}
summary_scoped as (

    select period_end, 'chain' as scope, '(chain)' as join_store_id, member_id, segment, trailing_spend
    from {{ members }}

    union all

    select period_end, 'store', coalesce(join_store_id, '(none)'), member_id, segment, trailing_spend
    from {{ members }}

),

summary_scopes as (

    select
        period_end,
        scope,
        join_store_id,
        max(scope_members) as scope_members,
        sum(trailing_spend) as scope_spend,
        max(top_members) as top_members,
        sum(case when spend_rank <= top_members then trailing_spend else 0 end) as top_spend
    from (
        select
            period_end,
            scope,
            join_store_id,
            trailing_spend,
            row_number() over (
                partition by period_end, scope, join_store_id order by trailing_spend desc, member_id
            ) as spend_rank,
            count(*) over (partition by period_end, scope, join_store_id) as scope_members,
            cast(floor(
                cast(count(*) over (partition by period_end, scope, join_store_id) as decimal(18, 0))
                * {{ sql_decimal(top_share) }}
            ) as bigint) as top_members
        from summary_scoped
    ) as ranked
    group by period_end, scope, join_store_id

),

summary_segments as (

    select period_end, scope, join_store_id, segment, count(*) as members, sum(trailing_spend) as trailing_spend
    from summary_scoped
    group by period_end, scope, join_store_id, segment

),

segment_summary_rows as (

    select
        segments.period_end,
        segments.scope,
        segments.join_store_id,
        segments.segment,
        cast(segments.members as bigint) as members,
        cast(segments.trailing_spend as decimal(18, 2)) as trailing_spend,
        cast(case when scopes.scope_spend <> 0 then segments.trailing_spend / scopes.scope_spend end as decimal(9, 6)) as spend_share,
        cast(scopes.scope_members as bigint) as scope_members,
        cast(scopes.scope_spend as decimal(18, 2)) as scope_spend,
        cast(scopes.top_members as bigint) as top_members,
        cast(case when scopes.scope_spend <> 0 then scopes.top_spend / scopes.scope_spend end as decimal(9, 6)) as top_spend_share
    from summary_segments as segments
    inner join summary_scopes as scopes
        on scopes.period_end = segments.period_end
        and scopes.scope = segments.scope
        and scopes.join_store_id = segments.join_store_id

)
{%- endmacro %}
