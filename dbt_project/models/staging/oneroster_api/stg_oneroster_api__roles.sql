-- The REST binding has no roles collection: each user carries its roles in user.roles[], without
-- a sourcedId of their own. A role is keyed by what identifies it,
-- <userSourcedId>-<orgSourcedId>-<role>-<beginDate>, so it keeps its key from walk to walk.
with landed_users as (
    select * from {{ api_current_records('oneroster_api', 'users') }} as current_records
),

user_role_items as (
    select
        _district_code,
        record_key as user_sourced_id,
        {{ oneroster_api_array_items('record_json', '$.roles') }} as role_json,
        _batch_id,
        _source_ref
    from landed_users
),

roles as (
    select
        _district_code as district_code,
        user_sourced_id,
        {{ json_text('role_json', '$.roleType') }} as role_type,
        {{ json_text('role_json', '$.role') }} as role,
        cast({{ json_text('role_json', '$.beginDate') }} as date) as begin_date,
        cast({{ json_text('role_json', '$.endDate') }} as date) as end_date,
        {{ json_text('role_json', '$.org.sourcedId') }} as org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from user_role_items
),

final as (
    select
        district_code,
        {{ dbt.concat([
            'user_sourced_id', "'-'", 'org_sourced_id', "'-'", 'role', "'-'",
            "coalesce(" ~ dbt.cast('begin_date', dbt.type_string()) ~ ", '')",
        ]) }} as role_sourced_id,
        user_sourced_id,
        role_type,
        role,
        begin_date,
        end_date,
        org_sourced_id,
        batch_id,
        source_ref
    from roles
)

select * from final
