-- Store master: a full snapshot, no business day, so every row is current.
select
    store_id,
    name as store_name,
    city,
    opened_on,
    closed_on,
    _source_file
from {{ source('raw', 'stores') }}
