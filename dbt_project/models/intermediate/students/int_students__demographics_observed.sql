-- What the SIS says today about each student's demographics, stamped with when it was
-- extracted, for the snapshot that keeps its history (snap_student_demographics).
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
        students.birth_date,
        students.sex_code,
        students.race_ethnicity_code,
        students.grade_level,
        students.current_school_key,
        observed.observed_at
    from students
    inner join observed on students.student_key = observed.student_key
)

select * from final
