{#- The SIS reaches the warehouse by up to two channels that serve the same records under the
    same sourcedIds: OneRoster CSV bundles and the OneRoster REST API. Rows are never mixed
    between them (that would resurrect a record one channel has deleted and the other still
    holds): for each entity, the first channel in the district's precedence
    (var sis_channel_precedence, from the config's warehouse.sis_channel_precedence) that has
    delivered it is authoritative. A channel that has delivered nothing (a district without the
    API, or before its first walk) never wins. Both staging models have the same columns in the
    same order, and every row keeps the channel it came from. -#}
{% macro sis_channel_rows(entity) -%}
    {%- set precedence = var('sis_channel_precedence', ['oneroster_csv', 'oneroster_api']) -%}
    with
    {% for channel in precedence %}
    {{ channel }}_rows as (
        select * from {{ ref('stg_' ~ channel ~ '__' ~ entity) }}
    ),
    {% endfor %}

    channel_deliveries as (
        {% for channel in precedence %}
        select '{{ channel }}' as sis_channel, {{ loop.index }} as precedence, count(*) as row_count
        from {{ channel }}_rows
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ),

    authoritative_channel as (
        select min(precedence) as precedence from channel_deliveries where row_count > 0
    ),

    final as (
        {% for channel in precedence %}
        select {{ channel }}_rows.*, '{{ channel }}' as sis_channel
        from {{ channel }}_rows
        where (select precedence from authoritative_channel) = {{ loop.index }}
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    )

    select * from final
{%- endmacro %}
