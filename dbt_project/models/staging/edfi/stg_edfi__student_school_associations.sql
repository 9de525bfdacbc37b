-- Ed-Fi student school associations: one row per student per school per entry date.
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'student_school_associations') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.studentReference.studentUniqueId') }} as student_unique_id,
        cast({{ json_text('record_json', '$.schoolReference.schoolId') }} as integer) as school_id,
        cast({{ json_text('record_json', '$.entryDate') }} as date) as entry_date,
        {{ json_text('record_json', '$.entryGradeLevelDescriptor') }} as entry_grade_level_descriptor,
        {{ json_text('record_json', '$.entryTypeDescriptor') }} as entry_type_descriptor,
        cast({{ json_text('record_json', '$.exitWithdrawDate') }} as date) as exit_withdraw_date,
        {{ json_text('record_json', '$.exitWithdrawTypeDescriptor') }} as exit_withdraw_type_descriptor,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(entry_grade_level_descriptor, position('#' in entry_grade_level_descriptor) + 1) as entry_grade_level,
        substring(entry_type_descriptor, position('#' in entry_type_descriptor) + 1) as entry_type,
        substring(exit_withdraw_type_descriptor, position('#' in exit_withdraw_type_descriptor) + 1) as exit_withdraw_type
    from typed
)

select * from final
