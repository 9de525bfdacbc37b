-- Current submissions of canvas: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('canvas', 'submissions') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as canvas_submission_id,
        {{ json_text('record_json', '$.assignment_id') }} as canvas_assignment_id,
        {{ json_text('record_json', '$.user_id') }} as canvas_user_id,
        {{ json_text('record_json', '$.workflow_state') }} as workflow_state,
        cast({{ json_text('record_json', '$.score') }} as double) as score,
        {{ json_text('record_json', '$.grade') }} as grade,
        cast({{ json_text('record_json', '$.late') }} as boolean) as is_late,
        cast({{ json_text('record_json', '$.missing') }} as boolean) as is_missing,
        cast({{ json_text('record_json', '$.excused') }} as boolean) as is_excused,
        cast({{ json_text('record_json', '$.seconds_late') }} as bigint) as seconds_late,
        cast({{ json_text('record_json', '$.attempt') }} as integer) as attempt,
        cast({{ json_text('record_json', '$.submitted_at') }} as {{ type_timestamp_tz() }}) as submitted_at,
        cast({{ json_text('record_json', '$.graded_at') }} as {{ type_timestamp_tz() }}) as graded_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
