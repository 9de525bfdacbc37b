-- Current courses of google_classroom: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('google_classroom', 'courses') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as google_course_id,
        {{ json_text('record_json', '$.name') }} as course_name,
        {{ json_text('record_json', '$.section') }} as section,
        {{ json_text('record_json', '$.ownerId') }} as owner_user_id,
        {{ json_text('record_json', '$.courseState') }} as course_state,
        cast({{ json_text('record_json', '$.creationTime') }} as {{ type_timestamp_tz() }}) as created_at,
        cast({{ json_text('record_json', '$.updateTime') }} as {{ type_timestamp_tz() }}) as updated_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
