-- SKU master: a full snapshot, no business day, so every row is current.
select
    sku,
    name as product_name,
    category,
    brand,
    own_brand,
    _source_file
from {{ source('raw', 'products') }}
