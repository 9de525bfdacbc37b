-- Ed-Fi student school attendance events: one row per student per school per session per event date per attendance category.
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'student_school_attendance_events') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.studentReference.studentUniqueId') }} as student_unique_id,
        cast({{ json_text('record_json', '$.schoolReference.schoolId') }} as integer) as school_id,
        cast({{ json_text('record_json', '$.sessionReference.schoolYear') }} as integer) as school_year,
        {{ json_text('record_json', '$.sessionReference.sessionName') }} as session_name,
        cast({{ json_text('record_json', '$.eventDate') }} as date) as event_date,
        {{ json_text('record_json', '$.attendanceEventCategoryDescriptor') }} as attendance_event_category_descriptor,
        {{ json_text('record_json', '$.attendanceEventReason') }} as attendance_event_reason,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(attendance_event_category_descriptor, position('#' in attendance_event_category_descriptor) + 1) as attendance_event_category
    from typed
)

select * from final
