with landed as (
    select * from {{ source('oneroster_csv', 'users') }}
    where _batch_id = {{ latest_landed_batch('oneroster_csv') }}
),

renamed as (
    select
        _district_code as district_code,
        "sourcedId" as user_sourced_id,
        {{ oneroster_bool('"enabledUser"') }} as is_enabled,
        username,
        "userIds" as user_ids,
        "givenName" as first_name,
        "middleName" as middle_name,
        "familyName" as last_name,
        identifier as local_identifier,
        "userMasterIdentifier" as master_identifier,
        email,
        grades as grade_levels,
        "primaryOrgSourcedId" as primary_org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
