-- Ed-Fi schools: one row per school (schoolId).
with records as (
    select * from {{ api_current_records('edfi', 'schools') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        cast({{ json_text('record_json', '$.schoolId') }} as integer) as school_id,
        {{ json_text('record_json', '$.nameOfInstitution') }} as name_of_institution,
        {{ json_text('record_json', '$.shortNameOfInstitution') }} as short_name_of_institution,
        cast({{ json_text('record_json', '$.localEducationAgencyReference.localEducationAgencyId') }} as integer) as local_education_agency_id,
        {{ json_text('record_json', '$.gradeLevels') }} as grade_levels_json,
        {{ json_text('record_json', '$.educationOrganizationCategories') }} as education_organization_categories_json,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select * from typed
)

select * from final
