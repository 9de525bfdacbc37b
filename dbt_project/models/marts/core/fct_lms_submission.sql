-- Every LMS submission (Canvas submissions, Google Classroom studentSubmissions), one per
-- assignment per student, conformed: state, score, points possible, submitted, late, missing.
-- The student comes through the identity crosswalk (source system canvas or google_classroom,
-- the LMS's own user id); a submission whose person is unresolved keeps a NULL student_key and is
-- counted by the warning test fct_lms_submission_unresolved, never dropped.
-- * Canvas says late and missing itself (Canvas marks work missing once it is past due unsubmitted).
-- * Google Classroom has no missing flag: work not turned in (NEW, CREATED, RECLAIMED_BY_STUDENT)
--   whose due date is before the day it was extracted is missing; late is Google's late flag
--   on work turned in. Google gives no submission time without the submission history.
-- state conforms to unsubmitted, submitted, graded (Canvas graded; Google RETURNED with a
-- grade) or returned (Google RETURNED without a grade); source_state keeps the LMS's word.
with canvas_submissions as (
    select * from {{ ref('stg_canvas__submissions') }}
),

google_submissions as (
    select * from {{ ref('stg_google_classroom__student_submissions') }}
),

assignments as (
    select * from {{ ref('dim_lms_assignment') }}
),

batches as (
    select batch_id, max(extracted_at) as extracted_at
    from {{ ref('stg_landing__batch_entities') }}
    where source_system = 'google_classroom'
    group by batch_id
),

student_xwalk as (
    select * from {{ ref('student_identity_xwalk') }}
),

canvas_conformed as (
    select
        district_code,
        'canvas' as lms,
        canvas_submission_id as lms_submission_id,
        canvas_assignment_id as lms_assignment_id,
        canvas_user_id as lms_user_id,
        workflow_state as source_state,
        case workflow_state
            when 'graded' then 'graded'
            when 'unsubmitted' then 'unsubmitted'
            else 'submitted'
        end as state,
        score,
        submitted_at is not null as is_submitted,
        coalesce(is_late, false) as is_late,
        coalesce(is_missing, false) as is_missing,
        coalesce(is_excused, false) as is_excused,
        seconds_late,
        submitted_at,
        graded_at,
        source_ref,
        batch_id
    from canvas_submissions
),

google_staged as (
    select
        google_submissions.*,
        google_submissions.state in ('TURNED_IN', 'RETURNED') as is_turned_in,
        assignments.due_date,
        cast(batches.extracted_at as date) as extracted_on
    from google_submissions
    left join assignments
        on assignments.lms = 'google_classroom'
        and google_submissions.google_course_work_id = assignments.lms_assignment_id
        and google_submissions.district_code = assignments.district_code
    left join batches on google_submissions.batch_id = batches.batch_id
),

google_conformed as (
    select
        district_code,
        'google_classroom' as lms,
        submission_key as lms_submission_id,
        google_course_work_id as lms_assignment_id,
        google_user_id as lms_user_id,
        state as source_state,
        case
            when state = 'RETURNED' and assigned_grade is not null then 'graded'
            when state = 'RETURNED' then 'returned'
            when state = 'TURNED_IN' then 'submitted'
            else 'unsubmitted'
        end as state,
        assigned_grade as score,
        is_turned_in as is_submitted,
        is_late and is_turned_in as is_late,
        not is_turned_in and due_date < extracted_on as is_missing,
        false as is_excused,
        cast(null as bigint) as seconds_late,
        cast(null as {{ type_timestamp_tz() }}) as submitted_at,
        cast(null as {{ type_timestamp_tz() }}) as graded_at,
        source_ref,
        batch_id
    from google_staged
),

submissions as (
    select * from canvas_conformed
    union all
    select * from google_conformed
),

final as (
    select
        {{ surrogate_key(['submissions.district_code', 'submissions.lms', 'submissions.lms_submission_id']) }}
            as lms_submission_key,
        assignments.lms_assignment_key,
        submissions.district_code,
        submissions.lms,
        submissions.lms_submission_id,
        submissions.lms_assignment_id,
        submissions.lms_user_id,
        student_xwalk.person_key,
        student_xwalk.student_key,
        coalesce(student_xwalk.method, 'unlinked') as identity_method,
        assignments.section_key,
        assignments.school_key,
        assignments.due_date,
        submissions.state,
        submissions.source_state,
        submissions.score,
        assignments.points_possible,
        case when submissions.score is not null and assignments.points_possible > 0
            then submissions.score / assignments.points_possible end as score_fraction,
        submissions.is_submitted,
        submissions.is_late,
        submissions.is_missing,
        submissions.is_excused,
        submissions.seconds_late,
        submissions.submitted_at,
        submissions.graded_at,
        submissions.source_ref,
        submissions.batch_id
    from submissions
    left join assignments
        on submissions.lms = assignments.lms
        and submissions.lms_assignment_id = assignments.lms_assignment_id
        and submissions.district_code = assignments.district_code
    left join student_xwalk
        on submissions.lms = student_xwalk.source_system
        and submissions.lms_user_id = student_xwalk.source_id
        and submissions.district_code = student_xwalk.district_code
)

select * from final
