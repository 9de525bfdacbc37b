-- Course grades per student per LMS course (and the SIS section it belongs to, where known):
-- * Canvas: the grades of each student enrollment as Canvas computes them (current score: graded
--   work only; final score: ungraded and missing work counted as zero) and its letter grades.
-- * Google Classroom has no course grade: it is computed the same way from the course's
--   studentSubmissions (fct_lms_submission): current score over graded work, final score over
--   every assignment due; no letter grade.
-- SIS grades per grading period are not included: the SIS channels (OneRoster CSV and API) land
-- rosters only, no results or line items. The student comes through the identity crosswalk; an
-- unresolved person keeps a NULL student_key (warning test fct_course_grade_unresolved).
with canvas_enrollments as (
    select * from {{ ref('stg_canvas__enrollments') }}
    where enrollment_type = 'StudentEnrollment'
),

google_students as (
    select * from {{ ref('stg_google_classroom__students') }}
),

submissions as (
    select * from {{ ref('fct_lms_submission') }}
    where lms = 'google_classroom'
),

assignments as (
    select lms_assignment_key, lms_course_id from {{ ref('dim_lms_assignment') }}
),

lms_courses as (
    select * from {{ ref('int_lms_courses__sectioned') }}
),

student_xwalk as (
    select * from {{ ref('student_identity_xwalk') }}
),

canvas_conformed as (
    select
        district_code,
        'canvas' as lms,
        canvas_enrollment_id as lms_enrollment_id,
        canvas_course_id as lms_course_id,
        canvas_user_id as lms_user_id,
        enrollment_state,
        current_score,
        current_grade,
        final_score,
        final_grade,
        source_ref,
        batch_id
    from canvas_enrollments
),

google_scores as (
    select
        assignments.lms_course_id,
        submissions.lms_user_id,
        sum(case when submissions.state = 'graded' then submissions.score else 0 end) as points_earned,
        sum(case when submissions.state = 'graded' then submissions.points_possible else 0 end) as points_graded,
        sum(submissions.points_possible) as points_assigned
    from submissions
    inner join assignments on submissions.lms_assignment_key = assignments.lms_assignment_key
    group by assignments.lms_course_id, submissions.lms_user_id
),

google_conformed as (
    select
        google_students.district_code,
        'google_classroom' as lms,
        google_students.course_student_key as lms_enrollment_id,
        google_students.google_course_id as lms_course_id,
        google_students.google_user_id as lms_user_id,
        'active' as enrollment_state,
        case when google_scores.points_graded > 0
            then round(100 * google_scores.points_earned / google_scores.points_graded, 2) end as current_score,
        cast(null as {{ dbt.type_string() }}) as current_grade,
        case when google_scores.points_assigned > 0
            then round(100 * google_scores.points_earned / google_scores.points_assigned, 2) end as final_score,
        cast(null as {{ dbt.type_string() }}) as final_grade,
        google_students.source_ref,
        google_students.batch_id
    from google_students
    left join google_scores
        on google_students.google_course_id = google_scores.lms_course_id
        and google_students.google_user_id = google_scores.lms_user_id
),

grades as (
    select * from canvas_conformed
    union all
    select * from google_conformed
),

final as (
    select
        {{ surrogate_key(['grades.district_code', 'grades.lms', 'grades.lms_enrollment_id']) }} as course_grade_key,
        grades.district_code,
        grades.lms as source_system,
        'lms_current' as grade_type,
        grades.lms_enrollment_id,
        grades.lms_course_id,
        lms_courses.lms_course_name,
        grades.lms_user_id,
        student_xwalk.person_key,
        student_xwalk.student_key,
        coalesce(student_xwalk.method, 'unlinked') as identity_method,
        lms_courses.section_key,
        lms_courses.school_key,
        grades.enrollment_state,
        grades.current_score,
        grades.current_grade,
        grades.final_score,
        grades.final_grade,
        grades.source_ref,
        grades.batch_id
    from grades
    left join lms_courses
        on grades.lms = lms_courses.lms
        and grades.lms_course_id = lms_courses.lms_course_id
        and grades.district_code = lms_courses.district_code
    left join student_xwalk
        on grades.lms = student_xwalk.source_system
        and grades.lms_user_id = student_xwalk.source_id
        and grades.district_code = student_xwalk.district_code
)

select * from final
