-- Every assessment result of every vendor in one shape, joined to the student through the
-- identity crosswalk. Results come from the declared vendor files' conformance (one row per
-- student result, whatever the vendor's layout; connectors/conformance.py): no vendor is named
-- here. A result whose record the identity step did not link (queued for review or unlinked)
-- keeps a null student_key: it is counted by a warning test, never dropped.
-- The grade assessed is the file's own where it has one, else the student's grade in the SIS.
-- Ed-Fi studentAssessments are not read: the state ODS republishes the same vendor results the
-- files deliver, so counting them too would count every result twice.
with results as (
    select * from {{ ref('stg_declared__assessment_results') }}
),

student_records as (
    select * from {{ ref('stg_declared__student_records') }}
),

student_xwalk as (
    select * from {{ ref('student_identity_xwalk') }}
),

students as (
    select student_key, grade_level from {{ ref('dim_student') }}
),

final as (
    select
        {{ surrogate_key(['results.district_code', 'results.source_system', 'results.student_id', 'results.result_id']) }} as assessment_result_key,
        -- dim_assessment: one row per vendor, assessment and subject.
        {{ surrogate_key(['results.district_code', 'results.source_system', 'results.assessment_identifier', 'results.academic_subject']) }} as assessment_key,
        results.district_code,
        results.source_system as vendor,
        results.declaration,
        results.assessment_identifier as assessment_name,
        results.assessment_title,
        results.result_id,
        results.student_id as source_student_id,
        student_xwalk.person_key,
        students.student_key,
        coalesce(student_xwalk.method, 'unlinked') as identity_method,
        results.academic_subject as subject,
        results.school_year,
        results.season,
        results.administration_date as test_date,
        coalesce(
            {{ person_grade_level('results.grade_assessed') }},
            {{ person_grade_level('student_records.grade') }},
            students.grade_level
        ) as grade_level_assessed,
        results.scale_score,
        results.standard_error,
        results.percentile,
        results.performance_level,
        results.is_proficient as vendor_is_proficient,
        results.source_ref,
        results.batch_id
    from results
    left join student_records
        on results.source_system = student_records.source_system
        and results.student_id = student_records.student_id
        and results.district_code = student_records.district_code
    left join student_xwalk
        on results.source_system = student_xwalk.source_system
        and results.student_id = student_xwalk.source_id
        and results.district_code = student_xwalk.district_code
    left join students on student_xwalk.student_key = students.student_key
)

select * from final
