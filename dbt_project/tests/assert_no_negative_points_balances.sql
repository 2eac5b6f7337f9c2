-- Quality (warning, not a gate): members whose points balance on D is negative (a return
-- deducted after the points were redeemed). Listed for customer service, never blocking.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'member_points_balances'}}}) }}

select member_id, points_balance
from {{ ref('member_points_balances') }}
where points_balance < 0
