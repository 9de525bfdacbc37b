{{ config(materialized='table') }}
-- Every source's record of every staff member in one shape (interop_pipeline/identity/records.py),
-- read by the identity step. The SIS is the spine: its staff carry their person key (the SIS
-- sourcedId). Adding a source (an LMS's teacher accounts, Ed-Fi staff) is one more select in
-- `unioned`.
with users as (
    select * from {{ ref('int_sis__users') }}
),

roles as (
    select * from {{ ref('int_sis__roles') }}
),

-- Staff hold a role other than student or family, as in dim_staff.
staff_users as (
    select * from users
    where user_sourced_id in (
        select user_sourced_id from roles
        where role not in ('student', 'parent', 'guardian', 'relative') and role_type = 'primary'
    )
),

sis_staff as (
    select
        district_code,
        'sis' as source_system,
        user_sourced_id as source_id,
        user_sourced_id as person_key,
        local_identifier as sis_id,
        cast(null as varchar) as state_id,
        first_name,
        middle_name,
        last_name,
        cast(null as date) as birth_date,
        email,
        username as login_id,
        cast(null as varchar) as grade_level,
        primary_org_sourced_id as school_id
    from staff_users
),

unioned as (
    select * from sis_staff
)

select * from unioned
