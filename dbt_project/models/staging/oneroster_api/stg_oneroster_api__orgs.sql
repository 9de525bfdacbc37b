with landed as (
    select * from {{ api_current_records('oneroster_api', 'orgs') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as org_sourced_id,
        {{ json_text('record_json', '$.name') }} as org_name,
        {{ json_text('record_json', '$.type') }} as org_type,
        {{ json_text('record_json', '$.identifier') }} as org_identifier,
        {{ json_text('record_json', '$.parent.sourcedId') }} as parent_org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
