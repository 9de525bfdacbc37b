{{ config(materialized='table') }}
-- Every source's record of every student in one shape (interop_pipeline/identity/records.py), read
-- by the identity step. The SIS is the spine: its records carry their person key (the SIS
-- sourcedId). Each other source contributes one record per ID it knows the student by, with the
-- values of its newest delivery. Adding an API source is one more select in `unioned`; a declared vendor file comes in
-- through its declaration alone.
with users as (
    select * from {{ ref('int_sis__users') }}
),

roles as (
    select * from {{ ref('int_sis__roles') }}
),

demographics as (
    select * from {{ ref('int_sis__demographics') }}
),

schools as (
    select org_sourced_id, org_name, org_identifier
    from {{ ref('int_sis__orgs') }}
    where org_type = 'school'
),

-- Schools matched by name only where the SIS has one school of that name: a name two schools
-- share (a large district has several "Lincoln Elementary") would give a student two records.
schools_by_unique_name as (
    select org_name, min(org_sourced_id) as org_sourced_id
    from schools
    group by org_name
    having count(*) = 1
),

declared_students as (
    select * from {{ ref('stg_declared__student_records') }}
),

edfi_students_staged as (
    select * from {{ ref('stg_edfi__students') }}
),

edfi_school_associations as (
    select * from {{ ref('stg_edfi__student_school_associations') }}
),

edfi_schools as (
    select school_id, name_of_institution from {{ ref('stg_edfi__schools') }}
),

canvas_users as (
    select * from {{ ref('stg_canvas__users') }}
),

canvas_enrollments as (
    select * from {{ ref('stg_canvas__enrollments') }}
),

google_roster as (
    select * from {{ ref('stg_google_classroom__students') }}
),

grade_descriptors as (
    select distinct ceds_code, edfi_descriptor from {{ ref('xwalk_grade_level') }}
),

sis_students as (
    select
        users.district_code,
        'sis' as source_system,
        users.user_sourced_id as source_id,
        users.user_sourced_id as person_key,
        users.local_identifier as sis_id,
        users.master_identifier as state_id,
        users.first_name,
        users.middle_name,
        users.last_name,
        demographics.birth_date,
        users.email,
        users.username as login_id,
        {{ person_grade_level('users.grade_levels') }} as grade_level,
        users.primary_org_sourced_id as school_id,
        {{ person_contact_columns(phone='users.phone') }}
    from users
    left join demographics on users.user_sourced_id = demographics.user_sourced_id
    where users.user_sourced_id in (select user_sourced_id from roles where role = 'student')
),

-- Every declared vendor file's students (its declaration's conformance.student section): one
-- record per id the system knows the student by, each value from its newest delivery. The
-- school is matched to the SIS by state id or by name.
vendor_students as (
    select
        declared_students.district_code,
        declared_students.source_system,
        declared_students.student_id as source_id,
        cast(null as {{ dbt.type_string() }}) as person_key,
        declared_students.district_id as sis_id,
        declared_students.state_id,
        declared_students.first_name,
        declared_students.middle_name,
        declared_students.last_name,
        declared_students.birth_date,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as login_id,
        {{ person_grade_level('declared_students.grade') }} as grade_level,
        coalesce(schools_by_id.org_sourced_id, schools_by_name.org_sourced_id) as school_id,
        {{ person_contact_columns(
            street_address='declared_students.street_address',
            city='declared_students.city',
            postal_code='declared_students.postal_code',
            phone='declared_students.phone',
            guardian_name='declared_students.guardian_name',
        ) }}
    from declared_students
    left join schools as schools_by_id on declared_students.school = schools_by_id.org_identifier
    left join schools_by_unique_name as schools_by_name on declared_students.school = schools_by_name.org_name
),

-- Ed-Fi (state-fed ODS): studentUniqueId is the state ID; grade and school from the newest
-- school association, the school matched to the SIS by name (Ed-Fi schoolIds are the state's).
edfi_newest_school as (
    select
        edfi_school_associations.*,
        row_number() over (
            partition by edfi_school_associations.student_unique_id
            order by edfi_school_associations.entry_date desc, edfi_school_associations.school_id
        ) as newest_rank
    from edfi_school_associations
),

edfi_students as (
    select
        edfi_students_staged.district_code,
        'edfi' as source_system,
        edfi_students_staged.student_unique_id as source_id,
        cast(null as {{ dbt.type_string() }}) as person_key,
        cast(null as {{ dbt.type_string() }}) as sis_id,
        edfi_students_staged.student_unique_id as state_id,
        edfi_students_staged.first_name,
        edfi_students_staged.middle_name,
        edfi_students_staged.last_surname as last_name,
        edfi_students_staged.birth_date,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as login_id,
        grade_descriptors.ceds_code as grade_level,
        schools.org_sourced_id as school_id,
        {{ person_contact_columns() }}
    from edfi_students_staged
    left join edfi_newest_school
        on edfi_students_staged.student_unique_id = edfi_newest_school.student_unique_id
        and edfi_newest_school.newest_rank = 1
    left join grade_descriptors on edfi_newest_school.entry_grade_level_descriptor = grade_descriptors.edfi_descriptor
    left join edfi_schools on edfi_newest_school.school_id = edfi_schools.school_id
    left join schools_by_unique_name as schools on edfi_schools.name_of_institution = schools.org_name
),

-- Canvas: a user with a student enrollment. sis_user_id is what the district loaded (sometimes
-- blank, sometimes the login); the name comes as "Last, First" in sortable_name.
canvas_students as (
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
    from canvas_users
    where canvas_user_id in (
        select canvas_user_id from canvas_enrollments where enrollment_type = 'StudentEnrollment'
    )
),

-- Google Classroom: a student is known by a Google user id and the school email address.
google_students as (
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
    from google_roster
    group by district_code, google_user_id
),

unioned as (
    select * from sis_students
    union all
    select * from vendor_students
    union all
    select * from edfi_students
    union all
    select * from canvas_students
    union all
    select * from google_students
)

select * from unioned
