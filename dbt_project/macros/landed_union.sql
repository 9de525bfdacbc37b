{#- Every source system's rows of one bookkeeping table ('batches', 'rejects' or 'refusals'),
    unioned: what the models spanning all sources read. Every source has each table (a zero-row
    file before anything lands), so the union never fails on a system the district lacks. -#}
{% macro union_of_landed_sources(table) -%}
    {%- set system_column = {'batches': 'source_system', 'rejects': '_source_system', 'refusals': 'source_system'}[table] -%}
    {%- set extra = declared_only_systems() -%}
    {#- Always named, so dbt's graph has the edge whatever systems it was parsed with: a partial
        build rebuilds this model when a declared-only system delivers (transform/partial.py). -#}
    {%- set declared_table = source('declared', 'system_' ~ table) -%}
    {%- for system in landed_source_systems() %}
    select * from {{ source(system, table) }}
    {% if not loop.last or extra %}union all{% endif %}
    {%- endfor %}
    {%- if extra %}
    select * from {{ declared_table }}
    where {{ system_column }} in ({% for s in extra %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif %}
{%- endmacro %}
