-- Ed-Fi course offerings: one row per local course code per school per session.
with records as (
    select * from {{ api_current_records('edfi', 'course_offerings') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.localCourseCode') }} as local_course_code,
        cast({{ json_text('record_json', '$.schoolReference.schoolId') }} as integer) as school_id,
        cast({{ json_text('record_json', '$.sessionReference.schoolYear') }} as integer) as school_year,
        {{ json_text('record_json', '$.sessionReference.sessionName') }} as session_name,
        {{ json_text('record_json', '$.localCourseTitle') }} as local_course_title,
        {{ json_text('record_json', '$.courseReference.courseCode') }} as course_code,
        cast({{ json_text('record_json', '$.courseReference.educationOrganizationId') }} as integer) as course_education_organization_id,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select * from typed
)

select * from final
