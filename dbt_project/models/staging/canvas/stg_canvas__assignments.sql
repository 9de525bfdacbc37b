-- Current assignments of canvas: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('canvas', 'assignments') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as canvas_assignment_id,
        {{ json_text('record_json', '$.course_id') }} as canvas_course_id,
        {{ json_text('record_json', '$.name') }} as assignment_name,
        cast({{ json_text('record_json', '$.position') }} as integer) as position,
        cast({{ json_text('record_json', '$.points_possible') }} as double) as points_possible,
        {{ json_text('record_json', '$.grading_type') }} as grading_type,
        {{ json_text('record_json', '$.workflow_state') }} as workflow_state,
        cast({{ json_text('record_json', '$.due_at') }} as {{ type_timestamp_tz() }}) as due_at,
        cast({{ json_text('record_json', '$.created_at') }} as {{ type_timestamp_tz() }}) as created_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
