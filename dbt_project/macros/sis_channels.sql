{#- The SIS reaches the warehouse by up to two channels that serve the same records under the
    same sourcedIds: OneRoster CSV bundles and the OneRoster REST API. Rows are never mixed
    between them (that would resurrect a record one channel has deleted and the other still
    holds): for each entity the channel that delivered most recently is authoritative, and a
    channel that has delivered nothing (a district without the API, or before its first walk)
    never wins. Both staging models have the same columns in the same order. -#}
{% macro sis_channel_rows(entity) -%}
    with csv_rows as (
        select * from {{ ref('stg_oneroster_csv__' ~ entity) }}
    ),

    api_rows as (
        select * from {{ ref('stg_oneroster_api__' ~ entity) }}
    ),

    channel_freshness as (
        select 'oneroster_csv' as sis_channel, max(batch_id) as newest_batch_id from csv_rows
        union all
        select 'oneroster_api' as sis_channel, max(batch_id) as newest_batch_id from api_rows
    ),

    authoritative_channel as (
        select max(sis_channel) as sis_channel
        from channel_freshness
        where newest_batch_id = (select max(newest_batch_id) from channel_freshness)
    ),

    final as (
        select csv_rows.*, 'oneroster_csv' as sis_channel
        from csv_rows
        where (select sis_channel from authoritative_channel) = 'oneroster_csv'
        union all
        select api_rows.*, 'oneroster_api' as sis_channel
        from api_rows
        where (select sis_channel from authoritative_channel) = 'oneroster_api'
    )

    select * from final
{%- endmacro %}
