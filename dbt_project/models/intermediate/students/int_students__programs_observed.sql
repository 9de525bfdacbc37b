-- What the SIS says today about each student's program flags, stamped with when it was
-- extracted, for the snapshot that keeps its history (snap_student_programs).
with students as (
    select * from {{ ref('dim_student') }}
),

observed as (
    select * from {{ ref('int_students__observed_at') }}
),

final as (
    select
        students.student_key,
        students.district_code,
        students.has_idea_services,
        students.has_section_504_plan,
        students.is_english_learner,
        students.is_economically_disadvantaged,
        students.is_homeless,
        observed.observed_at
    from students
    inner join observed on students.student_key = observed.student_key
)

select * from final
