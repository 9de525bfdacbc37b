-- OneRoster 1.2 sends roles.csv. 1.1 has none: users.csv gives each user one role and a list of
-- orgs, so a user landed from a 1.1 bundle (the only users with a role) yields a primary role per
-- org, keyed <userSourcedId>-<orgSourcedId>.
with landed_roles as (
    {{ oneroster_current_rows('oneroster_csv', 'roles') }}
),

landed_users as (
    {{ oneroster_current_rows('oneroster_csv', 'users') }}
),

roles_from_roles_file as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as role_sourced_id,
        {{ adapter.quote('userSourcedId') }} as user_sourced_id,
        {{ adapter.quote('roleType') }} as role_type,
        role,
        cast({{ adapter.quote('beginDate') }} as date) as begin_date,
        cast({{ adapter.quote('endDate') }} as date) as end_date,
        {{ adapter.quote('orgSourcedId') }} as org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed_roles
),

user_orgs_from_users_file as (
    select
        _district_code,
        {{ adapter.quote('sourcedId') }} as user_sourced_id,
        role,
        {{ split_list_items(adapter.quote('orgSourcedIds')) }} as org_sourced_id,
        _batch_id,
        _source_ref
    from landed_users
    where role is not null
),

roles_from_users_file as (
    select
        _district_code as district_code,
        {{ dbt.concat(['user_sourced_id', "'-'", 'org_sourced_id']) }} as role_sourced_id,
        user_sourced_id,
        'primary' as role_type,
        role,
        cast(null as date) as begin_date,
        cast(null as date) as end_date,
        org_sourced_id,
        _batch_id as batch_id,
        _source_ref as source_ref
    from user_orgs_from_users_file
),

final as (
    select * from roles_from_roles_file
    union all
    select * from roles_from_users_file
)

select * from final
