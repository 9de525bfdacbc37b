-- Current course_work of google_classroom: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('google_classroom', 'course_work') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as course_work_key,
        {{ json_text('record_json', '$.courseId') }} as google_course_id,
        {{ json_text('record_json', '$.id') }} as google_course_work_id,
        {{ json_text('record_json', '$.title') }} as title,
        {{ json_text('record_json', '$.state') }} as state,
        {{ json_text('record_json', '$.workType') }} as work_type,
        cast({{ json_text('record_json', '$.maxPoints') }} as double) as max_points,
        cast({{ json_text('record_json', '$.dueDate.year') }} as integer) as due_year,
        cast({{ json_text('record_json', '$.dueDate.month') }} as integer) as due_month,
        cast({{ json_text('record_json', '$.dueDate.day') }} as integer) as due_day,
        cast({{ json_text('record_json', '$.creationTime') }} as {{ type_timestamp_tz() }}) as created_at,
        cast({{ json_text('record_json', '$.updateTime') }} as {{ type_timestamp_tz() }}) as updated_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
