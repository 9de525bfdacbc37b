-- Ed-Fi courses: one row per course code per education organization.
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'courses') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.courseCode') }} as course_code,
        cast({{ json_text('record_json', '$.educationOrganizationReference.educationOrganizationId') }} as integer) as education_organization_id,
        {{ json_text('record_json', '$.courseTitle') }} as course_title,
        cast({{ json_text('record_json', '$.numberOfParts') }} as integer) as number_of_parts,
        {{ json_text('record_json', '$.academicSubjects[0].academicSubjectDescriptor') }} as academic_subject_descriptor,
        {{ json_text('record_json', '$.identificationCodes') }} as identification_codes_json,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(academic_subject_descriptor, position('#' in academic_subject_descriptor) + 1) as academic_subject
    from typed
)

select * from final
