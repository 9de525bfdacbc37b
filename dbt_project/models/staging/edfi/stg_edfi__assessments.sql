-- Ed-Fi assessments: one row per assessment (identifier and namespace).
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'assessments') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.assessmentIdentifier') }} as assessment_identifier,
        {{ json_text('record_json', '$.namespace') }} as namespace,
        {{ json_text('record_json', '$.assessmentTitle') }} as assessment_title,
        {{ json_text('record_json', '$.academicSubjects[0].academicSubjectDescriptor') }} as academic_subject_descriptor,
        {{ json_text('record_json', '$.academicSubjects') }} as academic_subjects_json,
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
