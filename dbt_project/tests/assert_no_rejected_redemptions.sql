-- Quality (warning): redemptions from an unknown, non-activated or cancelled card. Ingestion
-- should quarantine them; until it does, the ledger ignores them and this lists them.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_points_ledger'}}}) }}

select redemption_id, rejection_reason, points
from {{ ref('int_redemptions_checked') }}
where not is_accepted
