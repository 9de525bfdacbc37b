with landed as (
    select * from {{ source('oneroster_csv', 'roles') }}
    where _batch_id = {{ latest_landed_batch('oneroster_csv') }}
),

renamed as (
    select
        _district_code as district_code,
        "sourcedId" as role_sourced_id,
        "userSourcedId" as user_sourced_id,
        "roleType" as role_type,
        role,
        cast("beginDate" as date) as begin_date,
        cast("endDate" as date) as end_date,
        "orgSourcedId" as org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
