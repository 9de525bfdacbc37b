{#- The current conformed rows of one conformed table (source 'declared'), over every system:
    rows of committed batches only; for a declared file in append mode the newest delivery of
    each result wins (a corrected re-send supersedes, a late file adds), and for one in
    snapshot mode the rows of the newest batch that delivered that declaration. -#}
{% macro current_conformed_records(table_name) -%}
    (
        select records.*
        from (
            select
                landed.*,
                row_number() over (
                    partition by landed._source_system, landed.declaration, landed.result_id
                    order by landed._extracted_at desc, landed._batch_id desc
                ) as _version_rank,
                max(landed._batch_id) over (
                    partition by landed._source_system, landed.declaration
                ) as _newest_batch_id
            from {{ source('declared', table_name) }} as landed
            where landed._batch_id in (select batch_id from {{ source('declared', 'system_batches') }})
        ) as records
        where (records.mode = 'append' and records._version_rank = 1)
            or (records.mode = 'snapshot' and records._batch_id = records._newest_batch_id)
    )
{%- endmacro %}

{#- Source systems that exist only by declaration (a file_drop source the district configures
    whose system has no committed dbt source): their bookkeeping is read from the 'declared'
    source's cross-system tables. The pipeline passes them as the `declared_systems` var. -#}
{% macro declared_only_systems() -%}
    {%- set known = landed_source_systems() -%}
    {{ return(var('declared_systems', []) | reject('in', known) | list) }}
{%- endmacro %}

{#- An aggregate: the value of `column` from the row with the newest `order_column` among the
    rows where it is not null. Rows of one delivery share their `order_column` and may disagree
    (a student tested at two schools in one export): the greatest of their values is taken, so
    a rebuild of the same data picks the same one (an arbitrary pick changed the identity
    step's input from build to build, and with it whether identity must be resolved again). -#}
{% macro newest_non_null(column, order_column) -%}
    {{ return(adapter.dispatch('newest_non_null')(column, order_column)) }}
{%- endmacro %}

{#- max_by skips rows whose ordering value is NULL. -#}
{% macro default__newest_non_null(column, order_column) -%}
    max_by({{ column }}, case when {{ column }} is not null and {{ order_column }} is not null
        then struct({{ order_column }}, {{ column }}) end)
{%- endmacro %}

{#- DuckDB would rank a row value holding a NULL above every other: such rows are left out. -#}
{% macro duckdb__newest_non_null(column, order_column) -%}
    arg_max({{ column }}, ({{ order_column }}, {{ column }}))
        filter (where {{ column }} is not null and {{ order_column }} is not null)
{%- endmacro %}
