{#- Current records of an append-mode vendor file (assessment results, attendance): every
    committed batch contributes, and for each record key the row of the latest delivered batch
    wins, so a corrected re-send supersedes and a late file for an earlier term adds. -#}
{% macro current_appended_records(source_name, table_name, key_columns) -%}
    (
        select *
        from (
            select
                landed.*,
                row_number() over (
                    partition by {{ key_columns | join(', ') }}
                    order by landed._extracted_at desc, landed._batch_id desc
                ) as _version_rank
            from {{ source(source_name, table_name) }} as landed
            where landed._batch_id in (select batch_id from {{ source(source_name, 'batches') }})
        ) as versions
        where _version_rank = 1
    )
{%- endmacro %}
