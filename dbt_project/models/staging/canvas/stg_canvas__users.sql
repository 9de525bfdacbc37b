-- Current users of canvas: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('canvas', 'users') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as canvas_user_id,
        {{ json_text('record_json', '$.sis_user_id') }} as sis_user_id,
        {{ json_text('record_json', '$.login_id') }} as login_id,
        {{ json_text('record_json', '$.name') }} as user_name,
        {{ json_text('record_json', '$.sortable_name') }} as sortable_name,
        {{ json_text('record_json', '$.short_name') }} as short_name,
        cast({{ json_text('record_json', '$.created_at') }} as {{ type_timestamp_tz() }}) as created_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
