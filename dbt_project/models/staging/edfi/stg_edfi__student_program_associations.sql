-- Ed-Fi student program associations: one row per student per program per begin date.
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'student_program_associations') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.studentReference.studentUniqueId') }} as student_unique_id,
        cast({{ json_text('record_json', '$.educationOrganizationReference.educationOrganizationId') }} as integer) as education_organization_id,
        cast({{ json_text('record_json', '$.programReference.educationOrganizationId') }} as integer) as program_education_organization_id,
        {{ json_text('record_json', '$.programReference.programName') }} as program_name,
        {{ json_text('record_json', '$.programReference.programTypeDescriptor') }} as program_type_descriptor,
        cast({{ json_text('record_json', '$.beginDate') }} as date) as begin_date,
        cast({{ json_text('record_json', '$.endDate') }} as date) as end_date,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(program_type_descriptor, position('#' in program_type_descriptor) + 1) as program_type
    from typed
)

select * from final
