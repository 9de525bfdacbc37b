-- Ed-Fi descriptors: one row per descriptor value (namespace and code value).
with records as (
    select * from {{ api_current_records('edfi', 'descriptors') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.namespace') }} as namespace,
        {{ json_text('record_json', '$.codeValue') }} as code_value,
        {{ json_text('record_json', '$.shortDescription') }} as short_description,
        {{ json_text('record_json', '$.description') }} as description,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        namespace || '#' || code_value as uri,
        case when namespace like 'uri://ed-fi.org/%' then substring(namespace, 17) end as descriptor_type
    from typed
)

select * from final
