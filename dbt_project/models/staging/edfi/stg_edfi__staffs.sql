-- Ed-Fi staffs: one row per staff member (staffUniqueId).
with records as (
    select * from {{ api_current_records('edfi', 'staffs') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.staffUniqueId') }} as staff_unique_id,
        {{ json_text('record_json', '$.firstName') }} as first_name,
        {{ json_text('record_json', '$.middleName') }} as middle_name,
        {{ json_text('record_json', '$.lastSurname') }} as last_surname,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select * from typed
)

select * from final
