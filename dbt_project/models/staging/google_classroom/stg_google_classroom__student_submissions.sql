-- Current student_submissions of google_classroom: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('google_classroom', 'student_submissions') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as submission_key,
        {{ json_text('record_json', '$.courseId') }} as google_course_id,
        {{ json_text('record_json', '$.courseWorkId') }} as google_course_work_id,
        {{ json_text('record_json', '$.id') }} as google_submission_id,
        {{ json_text('record_json', '$.userId') }} as google_user_id,
        {{ json_text('record_json', '$.state') }} as state,
        -- Google leaves false booleans out of the record.
        coalesce(cast({{ json_text('record_json', '$.late') }} as boolean), false) as is_late,
        cast({{ json_text('record_json', '$.assignedGrade') }} as double) as assigned_grade,
        cast({{ json_text('record_json', '$.draftGrade') }} as double) as draft_grade,
        cast({{ json_text('record_json', '$.creationTime') }} as {{ type_timestamp_tz() }}) as created_at,
        cast({{ json_text('record_json', '$.updateTime') }} as {{ type_timestamp_tz() }}) as updated_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
