-- Current sections of canvas: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('canvas', 'sections') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as canvas_section_id,
        {{ json_text('record_json', '$.course_id') }} as canvas_course_id,
        {{ json_text('record_json', '$.sis_section_id') }} as sis_section_id,
        {{ json_text('record_json', '$.sis_course_id') }} as sis_course_id,
        {{ json_text('record_json', '$.name') }} as section_name,
        cast({{ json_text('record_json', '$.start_at') }} as {{ type_timestamp_tz() }}) as start_at,
        cast({{ json_text('record_json', '$.end_at') }} as {{ type_timestamp_tz() }}) as end_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
