-- Current courses of canvas: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('canvas', 'courses') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as canvas_course_id,
        {{ json_text('record_json', '$.sis_course_id') }} as sis_course_id,
        {{ json_text('record_json', '$.name') }} as course_name,
        {{ json_text('record_json', '$.course_code') }} as course_code,
        {{ json_text('record_json', '$.workflow_state') }} as workflow_state,
        {{ json_text('record_json', '$.account_id') }} as canvas_account_id,
        {{ json_text('record_json', '$.enrollment_term_id') }} as enrollment_term_id,
        cast({{ json_text('record_json', '$.start_at') }} as {{ type_timestamp_tz() }}) as start_at,
        cast({{ json_text('record_json', '$.end_at') }} as {{ type_timestamp_tz() }}) as end_at,
        cast({{ json_text('record_json', '$.created_at') }} as {{ type_timestamp_tz() }}) as created_at,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed
