-- Current enrollments of canvas: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('canvas', 'enrollments') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as canvas_enrollment_id,
        {{ json_text('record_json', '$.course_id') }} as canvas_course_id,
        {{ json_text('record_json', '$.course_section_id') }} as canvas_section_id,
        {{ json_text('record_json', '$.user_id') }} as canvas_user_id,
        {{ json_text('record_json', '$.sis_user_id') }} as sis_user_id,
        {{ json_text('record_json', '$.sis_section_id') }} as sis_section_id,
        {{ json_text('record_json', '$.type') }} as enrollment_type,
        {{ json_text('record_json', '$.enrollment_state') }} as enrollment_state,
        cast({{ json_text('record_json', '$.grades.current_score') }} as double) as current_score,
        {{ json_text('record_json', '$.grades.current_grade') }} as current_grade,
        cast({{ json_text('record_json', '$.grades.final_score') }} as double) as final_score,
        {{ json_text('record_json', '$.grades.final_grade') }} as final_grade,
        {{ json_text('record_json', '$.user.login_id') }} as login_id,
        cast({{ json_text('record_json', '$.created_at') }} as {{ type_timestamp_tz() }}) as created_at,
        cast({{ json_text('record_json', '$.updated_at') }} as {{ type_timestamp_tz() }}) as updated_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
