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
        cast(null as {{ dbt.type_string() }}) as state_id,
        first_name,
        middle_name,
        last_name,
        cast(null as date) as birth_date,
        email,
        username as login_id,
        cast(null as {{ dbt.type_string() }}) as grade_level,
        primary_org_sourced_id as school_id,
        {{ person_contact_columns(phone='phone') }}
    from staff_users
),

-- Ed-Fi staff: staffUniqueId is the district's staff ID, as the SIS's identifier.
edfi_staff as (
    select
        district_code,
        'edfi' as source_system,
        staff_unique_id as source_id,
        cast(null as {{ dbt.type_string() }}) as person_key,
        staff_unique_id as sis_id,
        cast(null as {{ dbt.type_string() }}) as state_id,
        first_name,
        middle_name,
        last_surname as last_name,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as login_id,
        cast(null as {{ dbt.type_string() }}) as grade_level,
        cast(null as {{ dbt.type_string() }}) as school_id,
        {{ person_contact_columns() }}
    from {{ ref('stg_edfi__staffs') }}
),

-- LMS teacher accounts: Canvas users with a teacher enrollment, Google Classroom course teachers.
canvas_staff as (
    select
        district_code,
        'canvas' as source_system,
        canvas_user_id as source_id,
        cast(null as {{ dbt.type_string() }}) as person_key,
        sis_user_id as sis_id,
        cast(null as {{ dbt.type_string() }}) as state_id,
        trim({{ dbt.split_part('sortable_name', "','", 2) }}) as first_name,
        cast(null as {{ dbt.type_string() }}) as middle_name,
        trim({{ dbt.split_part('sortable_name', "','", 1) }}) as last_name,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as email,
        login_id,
        cast(null as {{ dbt.type_string() }}) as grade_level,
        cast(null as {{ dbt.type_string() }}) as school_id,
        {{ person_contact_columns() }}
    from {{ ref('stg_canvas__users') }}
    where canvas_user_id in (
        select canvas_user_id from {{ ref('stg_canvas__enrollments') }} where enrollment_type = 'TeacherEnrollment'
    )
),

google_staff as (
    select
        district_code,
        'google_classroom' as source_system,
        google_user_id as source_id,
        cast(null as {{ dbt.type_string() }}) as person_key,
        cast(null as {{ dbt.type_string() }}) as sis_id,
        cast(null as {{ dbt.type_string() }}) as state_id,
        max(given_name) as first_name,
        cast(null as {{ dbt.type_string() }}) as middle_name,
        max(family_name) as last_name,
        cast(null as date) as birth_date,
        max(email) as email,
        cast(null as {{ dbt.type_string() }}) as login_id,
        cast(null as {{ dbt.type_string() }}) as grade_level,
        cast(null as {{ dbt.type_string() }}) as school_id,
        {{ person_contact_columns() }}
    from {{ ref('stg_google_classroom__teachers') }}
    group by district_code, google_user_id
),

unioned as (
    select * from sis_staff
    union all
    select * from canvas_staff
    union all
    select * from google_staff
    union all
    select * from edfi_staff
)

select * from unioned
