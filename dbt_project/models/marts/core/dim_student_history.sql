-- Each student's demographics and program flags by validity interval: the two snapshots'
-- versions cut at every point where either changed, so each row holds the values in force
-- from valid_from until valid_to (NULL while current).
with demographic_versions as (
    select * from {{ ref('snap_student_demographics') }}
),

program_versions as (
    select * from {{ ref('snap_student_programs') }}
),

change_points as (
    select student_key, dbt_valid_from as valid_from from demographic_versions
    union
    select student_key, dbt_valid_from as valid_from from program_versions
),

intervals as (
    select
        student_key,
        valid_from,
        lead(valid_from) over (partition by student_key order by valid_from) as next_change
    from change_points
),

joined as (
    select
        intervals.student_key,
        intervals.valid_from,
        -- The interval ends at the next change, or when the student left the roster.
        coalesce(
            intervals.next_change,
            case
                when demographic_versions.dbt_valid_to is not null and program_versions.dbt_valid_to is not null
                    then greatest(demographic_versions.dbt_valid_to, program_versions.dbt_valid_to)
            end
        ) as valid_to,
        demographic_versions.district_code,
        demographic_versions.birth_date,
        demographic_versions.sex_code,
        demographic_versions.race_ethnicity_code,
        demographic_versions.grade_level,
        demographic_versions.current_school_key as school_key,
        program_versions.has_idea_services,
        program_versions.has_section_504_plan,
        program_versions.is_english_learner,
        program_versions.is_economically_disadvantaged,
        program_versions.is_homeless
    from intervals
    left join demographic_versions
        on demographic_versions.student_key = intervals.student_key
        and demographic_versions.dbt_valid_from <= intervals.valid_from
        and (demographic_versions.dbt_valid_to is null or demographic_versions.dbt_valid_to > intervals.valid_from)
    left join program_versions
        on program_versions.student_key = intervals.student_key
        and program_versions.dbt_valid_from <= intervals.valid_from
        and (program_versions.dbt_valid_to is null or program_versions.dbt_valid_to > intervals.valid_from)
),

intervals_kept as (
    select
        *,
        -- The n-th version of a student: history only grows at its end, so the number stays.
        row_number() over (partition by student_key order by valid_from) as version_number
    from joined
    -- A point where both snapshots had closed (the student left) opens no interval.
    where district_code is not null or has_idea_services is not null
),

final as (
    select
        -- From the student and the version's number, never from a delivery time: a rebuild from
        -- the same landed data, whenever it was landed, gives the same keys.
        {{ surrogate_key(['student_key', 'version_number']) }} as student_history_key,
        student_key,
        version_number,
        district_code,
        valid_from,
        valid_to,
        valid_to is null as is_current,
        birth_date,
        sex_code,
        race_ethnicity_code,
        grade_level,
        school_key,
        has_idea_services,
        has_section_504_plan,
        is_english_learner,
        is_economically_disadvantaged,
        is_homeless
    from intervals_kept
)

select * from final
