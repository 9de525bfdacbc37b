{#- Every source system's rows of one bookkeeping table ('batches', 'rejects' or 'refusals'),
    unioned: what the models spanning all sources read. Every source has each table (a zero-row
    file before anything lands), so the union never fails on a system the district lacks. -#}
{% macro union_of_landed_sources(table) -%}
    {%- for system in landed_source_systems() %}
    select * from {{ source(system, table) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
