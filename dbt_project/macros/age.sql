{#
  True when a person born on `birth_date` is under `years` years old on `on_day` (both SQL
  date expressions; null when the birth date is null). The one place of the under-age rule
  (privacy.minor_age: PIPL's under-14s never reach an outreach extract).
  Age in whole years counts a birthday as reached when (month, day) of on_day >= that of
  birth_date, so someone born on 29 February reaches an age on 1 March in a non-leap year
  (on 28 February they are still the younger age: the safe side for children's data).
  Portable: extract() and integer arithmetic only.
#}
{% macro is_under_age(birth_date, years, on_day) -%}
    (
        extract(year from {{ on_day }}) - extract(year from {{ birth_date }})
        - case
            when extract(month from {{ on_day }}) * 100 + extract(day from {{ on_day }})
                < extract(month from {{ birth_date }}) * 100 + extract(day from {{ birth_date }})
            then 1 else 0
        end
    ) < {{ years }}
{%- endmacro %}
