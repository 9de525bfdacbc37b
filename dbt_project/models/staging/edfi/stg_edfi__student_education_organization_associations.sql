-- Ed-Fi student education organization associations: one row per student per education organization: the student's demographics.
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'student_education_organization_associations') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.studentReference.studentUniqueId') }} as student_unique_id,
        cast({{ json_text('record_json', '$.educationOrganizationReference.educationOrganizationId') }} as integer) as education_organization_id,
        {{ json_text('record_json', '$.sexDescriptor') }} as sex_descriptor,
        cast({{ json_text('record_json', '$.hispanicLatinoEthnicity') }} as boolean) as hispanic_latino_ethnicity,
        {{ json_text('record_json', '$.limitedEnglishProficiencyDescriptor') }} as limited_english_proficiency_descriptor,
        {{ json_text('record_json', '$.races') }} as races_json,
        {{ json_text('record_json', '$.studentCharacteristics') }} as student_characteristics_json,
        {{ json_text('record_json', '$.studentIdentificationCodes') }} as student_identification_codes_json,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(sex_descriptor, position('#' in sex_descriptor) + 1) as sex,
        substring(limited_english_proficiency_descriptor, position('#' in limited_english_proficiency_descriptor) + 1) as limited_english_proficiency
    from typed
)

select * from final
