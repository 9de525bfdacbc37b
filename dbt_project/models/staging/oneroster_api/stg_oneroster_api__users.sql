with landed as (
    select * from {{ api_current_records('oneroster_api', 'users') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as user_sourced_id,
        {{ oneroster_bool(json_text('record_json', '$.enabledUser')) }} as is_enabled,
        {{ json_text('record_json', '$.username') }} as username,
        {{ oneroster_api_user_ids('record_json') }} as user_ids,
        {{ json_text('record_json', '$.givenName') }} as first_name,
        {{ json_text('record_json', '$.middleName') }} as middle_name,
        {{ json_text('record_json', '$.familyName') }} as last_name,
        {{ json_text('record_json', '$.identifier') }} as local_identifier,
        {{ json_text('record_json', '$.userMasterIdentifier') }} as master_identifier,
        {{ json_text('record_json', '$.email') }} as email,
        nullif(trim({{ json_text('record_json', '$.phone') }}), '') as phone,
        {{ oneroster_api_text_list('record_json', '$.grades[*]') }} as grade_levels,
        {{ json_text('record_json', '$.primaryOrg.sourcedId') }} as primary_org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
