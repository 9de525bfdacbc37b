{#- Every source system the staging layer reads from landing/<system>/ (the dbt source names).
    Models that span all sources (rejects, batches, data quality) iterate over this list, so a
    new source is added here once. -#}
{% macro landed_source_systems() -%}
    {{ return([
        'oneroster_csv', 'oneroster_api', 'edfi', 'canvas', 'google_classroom', 'nwea_map', 'iready',
        'sis_attendance', 'state_assessment',
    ]) }}
{%- endmacro %}
