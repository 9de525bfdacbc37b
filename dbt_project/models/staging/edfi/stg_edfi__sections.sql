-- Ed-Fi sections: one row per section (sectionIdentifier within its course offering).
with records as (
    select * from {{ api_current_records('edfi', 'sections') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.sectionIdentifier') }} as section_identifier,
        {{ json_text('record_json', '$.courseOfferingReference.localCourseCode') }} as local_course_code,
        cast({{ json_text('record_json', '$.courseOfferingReference.schoolId') }} as integer) as school_id,
        cast({{ json_text('record_json', '$.courseOfferingReference.schoolYear') }} as integer) as school_year,
        {{ json_text('record_json', '$.courseOfferingReference.sessionName') }} as session_name,
        {{ json_text('record_json', '$.sectionName') }} as section_name,
        cast({{ json_text('record_json', '$.sequenceOfCourse') }} as integer) as sequence_of_course,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select * from typed
)

select * from final
