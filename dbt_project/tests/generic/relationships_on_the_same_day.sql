{#
  Each row's `column_name` is a `field` of `to` on the same `day_column` (a POS line's
  transaction is aggregated from that day's file: it lies on the line's business day). Stricter
  than dbt's relationships test, and the day bound lets the parent's scan skip the other days
  (with `where` on the recent days, a week of a 15M-transaction table is read, not all of it).
#}
{% test relationships_on_the_same_day(model, column_name, to, field, day_column) %}

with child as (

    select {{ column_name }} as from_field, {{ day_column }} as from_day
    from {{ model }}
    where {{ column_name }} is not null

),

parent as (

    select {{ field }} as to_field, {{ day_column }} as to_day
    from {{ to }}
    where {{ day_column }} >= (select min(from_day) from child)

)

select child.from_field, child.from_day
from child
left join parent
    on parent.to_field = child.from_field
    and parent.to_day = child.from_day
where parent.to_field is null

{% endtest %}
