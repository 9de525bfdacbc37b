{{ config(materialized='table') }}
-- Every source's record of every student in one shape (interop_pipeline/identity/records.py), read
-- by the identity step. The SIS is the spine: its records carry their person key (the SIS
-- sourcedId). Each other source contributes one record per ID it knows the student by, with the
-- values of its newest delivery. Adding a source is one more select in `unioned`.
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

map_roster as (
    select * from {{ ref('stg_nwea_map__students_by_school') }}
),

map_results as (
    select * from {{ ref('stg_nwea_map__assessment_results') }}
),

iready_results as (
    select * from {{ ref('stg_iready__diagnostic_results') }}
),

-- Staging keeps i-Ready's results without the student's name; the name is identity evidence.
iready_names as (
    select student_id, last_name, first_name, completion_date
    from {{ current_appended_records(
        'iready', 'diagnostic_ela', ['student_id', 'subject', 'school_year', 'start_date', 'completion_date']
    ) }} as ela
    union all
    select student_id, last_name, first_name, completion_date
    from {{ current_appended_records(
        'iready', 'diagnostic_math', ['student_id', 'subject', 'school_year', 'start_date', 'completion_date']
    ) }} as math
),

state_results as (
    select * from {{ ref('stg_state_assessment__summative_results') }}
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
        users.primary_org_sourced_id as school_id
    from users
    left join demographics on users.user_sourced_id = demographics.user_sourced_id
    where users.user_sourced_id in (select user_sourced_id from roles where role = 'student')
),

-- NWEA: the roster of the newest term a student was tested in, and the state ID its results carry.
map_roster_newest as (
    select
        map_roster.*,
        row_number() over (
            partition by map_roster.vendor_student_id
            order by map_roster.school_year desc,
                case map_roster.season when 'Spring' then 3 when 'Winter' then 2 else 1 end desc,
                map_roster.batch_id desc
        ) as newest_rank
    from map_roster
),

map_state_ids as (
    select vendor_student_id, max(state_student_id) as state_student_id, max(state_school_id) as state_school_id
    from map_results
    group by vendor_student_id
),

map_students as (
    select
        map_roster_newest.district_code,
        'nwea_map' as source_system,
        map_roster_newest.vendor_student_id as source_id,
        cast(null as varchar) as person_key,
        map_roster_newest.vendor_student_id as sis_id,
        map_state_ids.state_student_id as state_id,
        map_roster_newest.first_name,
        map_roster_newest.middle_initial as middle_name,
        map_roster_newest.last_name,
        map_roster_newest.birth_date,
        cast(null as varchar) as email,
        cast(null as varchar) as login_id,
        {{ person_grade_level('map_roster_newest.grade') }} as grade_level,
        schools.org_sourced_id as school_id
    from map_roster_newest
    left join map_state_ids on map_roster_newest.vendor_student_id = map_state_ids.vendor_student_id
    left join schools on map_roster_newest.school_name = schools.org_name
    where map_roster_newest.newest_rank = 1
),

-- A StudentID in the results but on no roster still needs a person: it has its state ID.
map_results_only as (
    select
        map_results.district_code,
        'nwea_map' as source_system,
        map_results.vendor_student_id as source_id,
        cast(null as varchar) as person_key,
        map_results.vendor_student_id as sis_id,
        max(map_results.state_student_id) as state_id,
        cast(null as varchar) as first_name,
        cast(null as varchar) as middle_name,
        cast(null as varchar) as last_name,
        cast(null as date) as birth_date,
        cast(null as varchar) as email,
        cast(null as varchar) as login_id,
        cast(null as varchar) as grade_level,
        max(schools.org_sourced_id) as school_id
    from map_results
    left join schools on map_results.state_school_id = schools.org_identifier
    where map_results.vendor_student_id not in (select vendor_student_id from map_roster)
    group by map_results.district_code, map_results.vendor_student_id
),

iready_newest as (
    select
        iready_results.*,
        row_number() over (
            partition by iready_results.vendor_student_id
            order by iready_results.completion_date desc, iready_results.subject
        ) as newest_rank
    from iready_results
),

iready_newest_names as (
    select
        student_id,
        last_name,
        first_name,
        row_number() over (partition by student_id order by completion_date desc, last_name) as newest_rank
    from iready_names
),

iready_students as (
    select
        iready_newest.district_code,
        'iready' as source_system,
        iready_newest.vendor_student_id as source_id,
        cast(null as varchar) as person_key,
        iready_newest.vendor_student_id as sis_id,
        iready_newest.state_student_id as state_id,
        iready_newest_names.first_name,
        cast(null as varchar) as middle_name,
        iready_newest_names.last_name,
        cast(null as date) as birth_date,
        cast(null as varchar) as email,
        cast(null as varchar) as login_id,
        {{ person_grade_level('iready_newest.student_grade') }} as grade_level,
        schools.org_sourced_id as school_id
    from iready_newest
    left join iready_newest_names
        on iready_newest.vendor_student_id = iready_newest_names.student_id and iready_newest_names.newest_rank = 1
    left join schools on iready_newest.school_name = schools.org_name
    where iready_newest.newest_rank = 1
),

-- The state file keys students by state ID and carries the local ID the district sent.
state_newest as (
    select
        state_results.*,
        row_number() over (
            partition by state_results.state_student_id
            order by state_results.school_year desc, state_results.test_date desc, state_results.subject
        ) as newest_rank
    from state_results
),

state_students as (
    select
        district_code,
        'state_assessment' as source_system,
        state_student_id as source_id,
        cast(null as varchar) as person_key,
        local_student_id as sis_id,
        state_student_id as state_id,
        first_name,
        cast(null as varchar) as middle_name,
        last_name,
        cast(null as date) as birth_date,
        cast(null as varchar) as email,
        cast(null as varchar) as login_id,
        {{ person_grade_level('grade_assessed') }} as grade_level,
        cast(null as varchar) as school_id
    from state_newest
    where newest_rank = 1
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
        cast(null as varchar) as person_key,
        cast(null as varchar) as sis_id,
        edfi_students_staged.student_unique_id as state_id,
        edfi_students_staged.first_name,
        edfi_students_staged.middle_name,
        edfi_students_staged.last_surname as last_name,
        edfi_students_staged.birth_date,
        cast(null as varchar) as email,
        cast(null as varchar) as login_id,
        grade_descriptors.ceds_code as grade_level,
        schools.org_sourced_id as school_id
    from edfi_students_staged
    left join edfi_newest_school
        on edfi_students_staged.student_unique_id = edfi_newest_school.student_unique_id
        and edfi_newest_school.newest_rank = 1
    left join grade_descriptors on edfi_newest_school.entry_grade_level_descriptor = grade_descriptors.edfi_descriptor
    left join edfi_schools on edfi_newest_school.school_id = edfi_schools.school_id
    left join schools on edfi_schools.name_of_institution = schools.org_name
),

-- Canvas: a user with a student enrollment. sis_user_id is what the district loaded (sometimes
-- blank, sometimes the login); the name comes as "Last, First" in sortable_name.
canvas_students as (
    select
        district_code,
        'canvas' as source_system,
        canvas_user_id as source_id,
        cast(null as varchar) as person_key,
        sis_user_id as sis_id,
        cast(null as varchar) as state_id,
        trim({{ dbt.split_part('sortable_name', "','", 2) }}) as first_name,
        cast(null as varchar) as middle_name,
        trim({{ dbt.split_part('sortable_name', "','", 1) }}) as last_name,
        cast(null as date) as birth_date,
        cast(null as varchar) as email,
        login_id,
        cast(null as varchar) as grade_level,
        cast(null as varchar) as school_id
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
        cast(null as varchar) as person_key,
        cast(null as varchar) as sis_id,
        cast(null as varchar) as state_id,
        max(given_name) as first_name,
        cast(null as varchar) as middle_name,
        max(family_name) as last_name,
        cast(null as date) as birth_date,
        max(email) as email,
        cast(null as varchar) as login_id,
        cast(null as varchar) as grade_level,
        cast(null as varchar) as school_id
    from google_roster
    group by district_code, google_user_id
),

unioned as (
    select * from sis_students
    union all
    select * from map_students
    union all
    select * from map_results_only
    union all
    select * from iready_students
    union all
    select * from state_students
    union all
    select * from edfi_students
    union all
    select * from canvas_students
    union all
    select * from google_students
)

select * from unioned
