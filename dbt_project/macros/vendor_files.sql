{#- Current records of an append-mode vendor file (assessment results, attendance): every
    committed batch contributes, and for each record key the row of the latest delivered batch
    wins, so a corrected re-send supersedes and a late file for an earlier term adds. -#}
{% macro current_appended_records(source_name, table_name, key_columns) -%}
    {{ newest_row_per_key(
        source(source_name, table_name), key_columns, 'select batch_id from ' ~ source(source_name, 'batches')
    ) }}
{%- endmacro %}

{#- Current records of a snapshot-mode vendor file (each file is the whole current state):
    the rows of the newest committed batch that delivered this entity. -#}
{% macro current_snapshot_records(source_name, table_name) -%}
    (
        select landed.*
        from {{ source(source_name, table_name) }} as landed
        where landed._batch_id = (
            select max(delivered._batch_id)
            from {{ source(source_name, table_name) }} as delivered
            where delivered._batch_id in (select batch_id from {{ source(source_name, 'batches') }})
        )
    )
{%- endmacro %}
