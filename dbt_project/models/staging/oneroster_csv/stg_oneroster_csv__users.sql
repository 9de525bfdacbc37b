with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'users') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as user_sourced_id,
        {{ oneroster_bool(adapter.quote('enabledUser')) }} as is_enabled,
        username,
        {{ adapter.quote('userIds') }} as user_ids,
        {{ adapter.quote('givenName') }} as first_name,
        {{ adapter.quote('middleName') }} as middle_name,
        {{ adapter.quote('familyName') }} as last_name,
        identifier as local_identifier,
        {{ adapter.quote('userMasterIdentifier') }} as master_identifier,
        email,
        nullif(trim(phone), '') as phone,
        grades as grade_levels,
        -- 1.1 has no primaryOrgSourcedId: a user of a single org (orgSourcedIds) belongs there.
        coalesce(
            {{ adapter.quote('primaryOrgSourcedId') }},
            case when {{ adapter.quote('orgSourcedIds') }} not like '%,%' then {{ adapter.quote('orgSourcedIds') }} end
        ) as primary_org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
