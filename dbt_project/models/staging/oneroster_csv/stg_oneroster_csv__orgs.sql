with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'orgs') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as org_sourced_id,
        name as org_name,
        type as org_type,
        identifier as org_identifier,
        {{ adapter.quote('parentSourcedId') }} as parent_org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
