-- Every assessment result of every vendor in one shape, joined to the student through the
-- identity crosswalk. A result whose record the identity step did not link (queued for review
-- or unlinked) keeps a null student_key: it is counted by a warning test, never dropped.
-- Subjects conform to ELA and Mathematics (MAP's Language Arts / Reading is ELA).
-- Ed-Fi studentAssessments are not read: the state ODS republishes the same MAP, i-Ready and
-- state results the vendor files deliver (one per student, subject, year and season), so
-- counting them too would count every result twice.
with map_results as (
    select * from {{ ref('stg_nwea_map__assessment_results') }}
),

map_roster as (
    select * from {{ ref('stg_nwea_map__students_by_school') }}
),

iready_results as (
    select * from {{ ref('stg_iready__diagnostic_results') }}
),

state_results as (
    select * from {{ ref('stg_state_assessment__summative_results') }}
),

student_xwalk as (
    select * from {{ ref('student_identity_xwalk') }}
),

students as (
    select student_key from {{ ref('dim_student') }}
),

map_conformed as (
    select
        map_results.district_code,
        'nwea_map' as vendor,
        map_results.test_name as assessment_name,
        map_results.vendor_student_id as source_student_id,
        {{ dbt.concat(['map_results.term_name', "'|'", 'map_results.subject', "'|'", 'map_results.test_id', "'|'", dbt.cast('map_results.test_date', dbt.type_string())]) }} as result_natural_key,
        case map_results.subject when 'Mathematics' then 'Mathematics' else 'ELA' end as subject,
        map_results.school_year,
        map_results.season,
        map_results.test_date,
        {{ person_grade_level('map_roster.grade') }} as grade_level_assessed,
        map_results.rit_score as scale_score,
        cast(map_results.rit_standard_error as double) as standard_error,
        map_results.percentile,
        map_results.achievement_quintile as performance_level,
        cast(map_results.fall_to_spring_observed_growth as double) as growth,
        map_results.source_ref,
        map_results.batch_id
    from map_results
    left join map_roster
        on map_results.term_name = map_roster.term_name
        and map_results.vendor_student_id = map_roster.vendor_student_id
),

iready_conformed as (
    select
        district_code,
        'iready' as vendor,
        'i-Ready Diagnostic' as assessment_name,
        vendor_student_id as source_student_id,
        {{ dbt.concat([
            'subject', "'|'", dbt.cast('school_year', dbt.type_string()), "'|'",
            dbt.cast('start_date', dbt.type_string()), "'|'", dbt.cast('completion_date', dbt.type_string())
        ]) }} as result_natural_key,
        case subject when 'Math' then 'Mathematics' else 'ELA' end as subject,
        school_year,
        -- "Fall (August 1 - November 15)": the window's first word is the season.
        trim({{ dbt.split_part('norming_window', "'('", 1) }}) as season,
        completion_date as test_date,
        {{ person_grade_level('student_grade') }} as grade_level_assessed,
        scale_score,
        cast(null as double) as standard_error,
        percentile,
        overall_placement as performance_level,
        cast(null as double) as growth,
        source_ref,
        batch_id
    from iready_results
),

state_conformed as (
    select
        district_code,
        'state_assessment' as vendor,
        'state_summative' as assessment_name,
        state_student_id as source_student_id,
        {{ dbt.concat([dbt.cast('school_year', dbt.type_string()), "'|'", 'subject']) }} as result_natural_key,
        case subject when 'Mathematics' then 'Mathematics' else 'ELA' end as subject,
        school_year,
        'Spring' as season,
        test_date,
        {{ person_grade_level('grade_assessed') }} as grade_level_assessed,
        scale_score,
        cast(null as double) as standard_error,
        cast(null as integer) as percentile,
        achievement_level as performance_level,
        cast(null as double) as growth,
        source_ref,
        batch_id
    from state_results
),

results as (
    select * from map_conformed
    union all
    select * from iready_conformed
    union all
    select * from state_conformed
),

final as (
    select
        {{ surrogate_key(['results.district_code', 'results.vendor', 'results.source_student_id', 'results.result_natural_key']) }} as assessment_result_key,
        -- dim_assessment: one row per vendor, test and subject.
        {{ surrogate_key(['results.district_code', 'results.vendor', 'results.assessment_name', 'results.subject']) }} as assessment_key,
        results.district_code,
        results.vendor,
        results.assessment_name,
        results.source_student_id,
        student_xwalk.person_key,
        students.student_key,
        coalesce(student_xwalk.method, 'unlinked') as identity_method,
        results.subject,
        results.school_year,
        results.season,
        results.test_date,
        results.grade_level_assessed,
        results.scale_score,
        results.standard_error,
        results.percentile,
        results.performance_level,
        results.growth,
        results.source_ref,
        results.batch_id
    from results
    left join student_xwalk
        on results.vendor = student_xwalk.source_system
        and results.source_student_id = student_xwalk.source_id
        and results.district_code = student_xwalk.district_code
    left join students on student_xwalk.student_key = students.student_key
)

select * from final
