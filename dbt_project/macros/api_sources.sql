{#- Landed REST records (connectors/api_landing.py): every entity has record_key, record_state
    ('active' or 'deleted'), changed_at, extract_mode ('full' or 'incremental'), fetch_seq and
    record_json. The batches in effect for an entity are its newest committed full walk and every
    committed incremental walk after it (batch ids sort by extraction time), so a periodic full
    walk also retires records whose deletion a delta feed never reported. -#}
{% macro api_batches_in_effect(source_name, entity) -%}
    select committed.batch_id
    from {{ source(source_name, 'batches') }} as committed
    where committed.batch_id >= coalesce((
        select max(landed._batch_id)
        from {{ source(source_name, entity) }} as landed
        where landed.extract_mode = 'full'
            and landed._batch_id in (select batch_id from {{ source(source_name, 'batches') }})
    ), '')
{%- endmacro %}

{#- The latest version of every record of an API entity, tombstones included: within the batches
    in effect, the newest batch wins, and within a walk the record fetched last (a record that
    changed between pages is fetched twice; the later copy is the newer). -#}
{% macro api_latest_versions(source_name, entity) -%}
    (
        select *
        from (
            select
                landed.*,
                row_number() over (
                    partition by landed.record_key
                    order by landed._batch_id desc, landed.fetch_seq desc
                ) as _version_rank
            from {{ source(source_name, entity) }} as landed
            where landed._batch_id in ({{ api_batches_in_effect(source_name, entity) }})
        ) as versions
        where _version_rank = 1
    )
{%- endmacro %}

{#- The current records of an API entity: latest versions that are not deletions. -#}
{% macro api_current_records(source_name, entity) -%}
    (
        select * from {{ api_latest_versions(source_name, entity) }} as latest
        where latest.record_state = 'active'
    )
{%- endmacro %}

{#- The deletions of an API entity still in effect (tombstones that are the latest version). -#}
{% macro api_deleted_records(source_name, entity) -%}
    (
        select * from {{ api_latest_versions(source_name, entity) }} as latest
        where latest.record_state = 'deleted'
    )
{%- endmacro %}
