-- Ed-Fi sessions: one row per school per school year per session name.
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'sessions') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        cast({{ json_text('record_json', '$.schoolReference.schoolId') }} as integer) as school_id,
        cast({{ json_text('record_json', '$.schoolYearTypeReference.schoolYear') }} as integer) as school_year,
        {{ json_text('record_json', '$.sessionName') }} as session_name,
        cast({{ json_text('record_json', '$.beginDate') }} as date) as begin_date,
        cast({{ json_text('record_json', '$.endDate') }} as date) as end_date,
        {{ json_text('record_json', '$.termDescriptor') }} as term_descriptor,
        cast({{ json_text('record_json', '$.totalInstructionalDays') }} as integer) as total_instructional_days,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(term_descriptor, position('#' in term_descriptor) + 1) as term
    from typed
)

select * from final
