{#- Every source system the staging layer reads from landing/<system>/ (the dbt source names).
    Models that span all sources (rejects, batches, data quality) iterate over this list, so a
    new source is added here once. -#}
{% macro landed_source_systems() -%}
    {{ return([
        'oneroster_csv', 'oneroster_api', 'edfi', 'canvas', 'google_classroom', 'nwea_map', 'iready',
        'sis_attendance', 'state_assessment',
    ]) }}
{%- endmacro %}

{#- The district's sources as rows (source_system, system_name, is_enabled, is_required,
    freshness_limit_hours), from the `sources` var the pipeline passes from the district config;
    every landed source system is listed, those the district does not configure as not enabled. -#}
{% macro configured_source_rows() -%}
    {%- set configured = var('sources', {}) -%}
    {%- for system in landed_source_systems() + declared_only_systems() -%}
    {%- set settings = configured.get(system, {}) %}
    select
        '{{ system }}' as source_system,
        {{ sql_text(settings.get('system_name')) }} as system_name,
        {{ 'true' if settings.get('enabled', false) else 'false' }} as is_enabled,
        {{ 'true' if settings.get('required', false) else 'false' }} as is_required,
        cast({{ sql_number(settings.get('freshness_limit_hours')) }} as double) as freshness_limit_hours
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
