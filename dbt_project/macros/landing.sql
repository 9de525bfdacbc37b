{#- Per key, the row of the newest (latest extracted) of the batches that `batch_ids` (a select
    of batch ids) returns; a key's older versions drop out. Adds the helper column _version_rank.
    Filtering batches first keeps the window small when many daily bulk batches accumulate. -#}
{% macro newest_row_per_key(relation, key_columns, batch_ids) -%}
    (
        select *
        from (
            select
                landed.*,
                row_number() over (
                    partition by {{ key_columns | join(', ') }}
                    order by landed._extracted_at desc, landed._batch_id desc
                ) as _version_rank
            from {{ relation }} as landed
            where landed._batch_id in ({{ batch_ids }})
        ) as versions
        where _version_rank = 1
    )
{%- endmacro %}

{#- The batches that make up a OneRoster entity's current state, as a select of batch_id: the
    newest bulk batch that has the entity, then every delta batch after it (every delta batch
    while no bulk one has landed). Only batches with a _batches record count; the record's
    details say each entity's mode, and records written before modes were kept were all bulk.
    Batch ids sort by landing time. The connector applies the same rule to check references
    (oneroster_csv.batches_in_effect). -#}
{% macro oneroster_batches_in_effect(source_name, entity) -%}
    select batch_id
    from (
        select
            batch_id,
            load_mode,
            max(case when load_mode = 'bulk' then batch_id end) over () as newest_bulk_batch_id
        from (
            select
                batch_id,
                coalesce({{ json_text('details', '$.modes.' ~ entity) }}, 'bulk') as load_mode
            from {{ source(source_name, 'batches') }}
        ) as batch_modes
    ) as modes_in_order
    where (load_mode = 'bulk' and batch_id = newest_bulk_batch_id)
        or (load_mode = 'delta' and batch_id > coalesce(newest_bulk_batch_id, ''))
{%- endmacro %}

{#- The latest version of every row of a OneRoster entity (one per sourcedId), deletions
    included: status 'tobedeleted' marks a row the source deleted. -#}
{% macro oneroster_latest_versions(source_name, entity) -%}
    {{ newest_row_per_key(
        source(source_name, entity), ['landed.' ~ adapter.quote('sourcedId')], oneroster_batches_in_effect(source_name, entity)
    ) }}
{%- endmacro %}

{#- The current rows of a OneRoster entity: latest versions that are not deletions (a bulk
    row's status is blank). -#}
{% macro oneroster_current_rows(source_name, entity) -%}
    select * from {{ oneroster_latest_versions(source_name, entity) }} as latest
    where latest.status is null or latest.status <> 'tobedeleted'
{%- endmacro %}

{#- OneRoster booleans are the strings 'true'/'false'; anything else stays NULL. -#}
{% macro oneroster_bool(column) -%}
    case {{ column }} when 'true' then true when 'false' then false end
{%- endmacro %}

{#- A text value at `path` inside a JSON string column. The SQL/JSON standard spells it
    json_value; DuckDB's json_value returns JSON (quotes and all), its json_extract_string text. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_value({{ column }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '{{ path }}')
{%- endmacro %}

{#- Spark's get_json_object reads the same simple paths ($.a.b, $.a[0].b). -#}
{% macro spark__json_text(column, path) -%}
    get_json_object({{ column }}, '{{ path }}')
{%- endmacro %}

{#- In a select list: one row per item of a comma-separated OneRoster list column, spaces
    dropped (sourcedIds never contain any). ANSI SQL has no such function, so each engine
    brings its own (Spark: explode(split(...)); Snowflake: lateral flatten). -#}
{% macro split_list_items(column) -%}
    {{ return(adapter.dispatch('split_list_items')(column)) }}
{%- endmacro %}

{% macro default__split_list_items(column) -%}
    {{ exceptions.raise_compiler_error("split_list_items has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__split_list_items(column) -%}
    unnest(string_split(replace({{ column }}, ' ', ''), ','))
{%- endmacro %}

{% macro postgres__split_list_items(column) -%}
    unnest(string_to_array(replace({{ column }}, ' ', ''), ','))
{%- endmacro %}

{#- split takes a regular expression; a comma is itself. -#}
{% macro spark__split_list_items(column) -%}
    explode(split(replace({{ column }}, ' ', ''), ','))
{%- endmacro %}
