with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'users') }}
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
        nullif(trim(phone), '') as phone,
        grades as grade_levels,
        -- 1.1 has no primaryOrgSourcedId: a user of a single org (orgSourcedIds) belongs there.
        coalesce(
            "primaryOrgSourcedId",
            case when "orgSourcedIds" not like '%,%' then "orgSourcedIds" end
        ) as primary_org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
