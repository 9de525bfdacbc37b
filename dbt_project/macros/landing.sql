{#- The newest batch that landed completely for a source system: a batch counts only once its
    record is in _batches (written last by the connector). Batch ids sort by landing time. -#}
{% macro latest_landed_batch(source_name) -%}
    (select max(batch_id) from {{ source(source_name, 'batches') }})
{%- endmacro %}

{#- OneRoster booleans are the strings 'true'/'false'; anything else stays NULL. -#}
{% macro oneroster_bool(column) -%}
    case {{ column }} when 'true' then true when 'false' then false end
{%- endmacro %}
