-- Ed-Fi student section associations: one row per student per section per begin date.
with records as (
    select * from {{ api_current_records('edfi', 'student_section_associations') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.studentReference.studentUniqueId') }} as student_unique_id,
        {{ json_text('record_json', '$.sectionReference.sectionIdentifier') }} as section_identifier,
        {{ json_text('record_json', '$.sectionReference.localCourseCode') }} as local_course_code,
        cast({{ json_text('record_json', '$.sectionReference.schoolId') }} as integer) as school_id,
        cast({{ json_text('record_json', '$.sectionReference.schoolYear') }} as integer) as school_year,
        {{ json_text('record_json', '$.sectionReference.sessionName') }} as session_name,
        cast({{ json_text('record_json', '$.beginDate') }} as date) as begin_date,
        cast({{ json_text('record_json', '$.endDate') }} as date) as end_date,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select * from typed
)

select * from final
