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
    select school_key, sis_school_id from {{ ref('dim_school') }}
),

sex_codes as (
    select * from {{ ref('xwalk_sex') }} where source_system = 'oneroster'
),

grade_codes as (
    select * from {{ ref('xwalk_grade_level') }} where source_system = 'oneroster'
),

race_codes as (
    select * from {{ ref('xwalk_race_ethnicity') }}
),

student_users as (
    select * from users
    where user_sourced_id in (select user_sourced_id from roles where role = 'student')
),

-- Federal reporting category: Hispanic first, then two or more races, then the single race.
race_categories as (
    select
        user_sourced_id,
        case
            when hispanic_or_latino then 'HispanicOrLatino'
            when race_two_or_more then 'TwoOrMoreRaces'
            when (
                cast(race_american_indian_or_alaska_native as integer) + cast(race_asian as integer)
                + cast(race_black_or_african_american as integer)
                + cast(race_native_hawaiian_or_pacific_islander as integer) + cast(race_white as integer)
            ) > 1 then 'TwoOrMoreRaces'
            when race_american_indian_or_alaska_native then 'AmericanIndianOrAlaskaNative'
            when race_asian then 'Asian'
            when race_black_or_african_american then 'BlackOrAfricanAmerican'
            when race_native_hawaiian_or_pacific_islander then 'NativeHawaiianOrOtherPacificIslander'
            when race_white then 'White'
            else 'Unknown'
        end as federal_race_category
    from demographics
),

final as (
    select
        {{ surrogate_key(['student_users.district_code', "'sis'", 'student_users.user_sourced_id']) }} as student_key,
        student_users.district_code,
        student_users.user_sourced_id as sis_student_id,
        student_users.local_identifier as local_student_id,
        student_users.master_identifier as state_student_id,
        student_users.first_name,
        student_users.middle_name,
        student_users.last_name,
        student_users.username,
        student_users.email,
        demographics.birth_date,
        sex_codes.ceds_code as sex_code,
        sex_codes.edfi_descriptor as sex_descriptor,
        grade_codes.ceds_code as grade_level,
        grade_codes.edfi_descriptor as grade_level_descriptor,
        demographics.hispanic_or_latino,
        demographics.race_american_indian_or_alaska_native,
        demographics.race_asian,
        demographics.race_black_or_african_american,
        demographics.race_native_hawaiian_or_pacific_islander,
        demographics.race_white,
        race_codes.ceds_code as race_ethnicity_code,
        race_codes.reporting_label as race_ethnicity,
        demographics.is_english_learner,
        demographics.has_idea_services,
        demographics.has_section_504_plan,
        demographics.is_economically_disadvantaged,
        demographics.is_homeless,
        schools.school_key as current_school_key,
        student_users.is_enabled,
        student_users.source_ref
    from student_users
    left join demographics on student_users.user_sourced_id = demographics.user_sourced_id
    left join race_categories on student_users.user_sourced_id = race_categories.user_sourced_id
    left join race_codes on race_categories.federal_race_category = race_codes.federal_category
    left join sex_codes on demographics.sex = sex_codes.source_code
    left join grade_codes on student_users.grade_levels = grade_codes.source_code
    left join schools on student_users.primary_org_sourced_id = schools.sis_school_id
)

select * from final
