-- Attendance rules (documented in _core__models.yml): the SIS exports absences and tardies only,
-- so every instructional day a student is enrolled without an event is a day present. Whether a
-- code is excused or a tardy comes from the xwalk_attendance_code seed; how much of a day it
-- counts as absent from the district config (business_rules.attendance.absent_day_fraction),
-- else from the seed.
--
-- Incremental on DuckDB (delete+insert by student_daily_attendance_key): a run that is not a
-- full refresh recomputes only the student-days whose current event comes from a batch the
-- table has not seen yet (attendance_batch_id), and keeps every other row. The pipeline runs
-- it so only when new attendance batches are the only change since the last build, which ended
-- well (transform/unchanged.py); any other run passes --full-refresh. On Spark it is a table.
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='delete+insert',
    unique_key='student_daily_attendance_key',
) }}

with enrollments as (
    select * from {{ ref('fct_school_enrollment') }}
),

instructional_days as (
    select school_key, calendar_date from {{ ref('dim_school_calendar') }} where is_instructional_day
),

students as (
    select student_key, local_student_id from {{ ref('dim_student') }}
),

schools as (
    select school_key, state_school_id from {{ ref('dim_school') }}
),

events as (
    select * from {{ ref('stg_sis_attendance__daily_attendance') }}
),

seed_codes as (
    select * from {{ ref('xwalk_attendance_code') }} where source_system = 'sis_attendance'
),

configured_fractions as (
    {{ configured_absent_day_fractions() }}
),

-- Only codes the seed maps count: a configured fraction for an unmapped code does not map it.
codes as (
    select
        seed_codes.source_code,
        coalesce(configured_fractions.absent_day_fraction, seed_codes.absent_day_fraction) as absent_day_fraction,
        case when configured_fractions.absent_day_fraction is not null then 'config' else 'seed' end
            as absent_day_fraction_source,
        seed_codes.is_excused,
        seed_codes.is_tardy
    from seed_codes
    left join configured_fractions
        on configured_fractions.source_system = seed_codes.source_system
        and configured_fractions.source_code = seed_codes.source_code
),

-- The SIS export names students by local ID and schools by state ID: same system, exact keys.
keyed_events as (
    select
        students.student_key,
        schools.school_key,
        events.attendance_date,
        events.attendance_code,
        codes.absent_day_fraction,
        codes.absent_day_fraction_source,
        codes.is_excused,
        codes.is_tardy,
        events.batch_id as attendance_batch_id
    from events
    inner join students on events.local_student_id = students.local_student_id
    inner join schools on events.state_school_id = schools.state_school_id
    left join codes on events.attendance_code = codes.source_code
),

{% if is_incremental() %}
-- The student-days whose current event the table has not seen: only these are recomputed.
changed_days as (
    select distinct student_key, school_key, attendance_date
    from keyed_events
    where attendance_batch_id not in (
        select distinct attendance_batch_id from {{ this }} where attendance_batch_id is not null
    )
),
{% endif %}

enrolled_days as (
    select
        enrollments.district_code,
        enrollments.student_key,
        enrollments.school_key,
        instructional_days.calendar_date
    from enrollments
    inner join instructional_days
        on instructional_days.school_key = enrollments.school_key
        and instructional_days.calendar_date >= enrollments.entry_date
        and (enrollments.exit_date is null or instructional_days.calendar_date <= enrollments.exit_date)
    {% if is_incremental() %}
    inner join changed_days
        on changed_days.student_key = enrollments.student_key
        and changed_days.school_key = enrollments.school_key
        and changed_days.attendance_date = instructional_days.calendar_date
    {% endif %}
),

final as (
    select
        {{ surrogate_key(['enrolled_days.student_key', 'enrolled_days.school_key', 'enrolled_days.calendar_date']) }}
            as student_daily_attendance_key,
        enrolled_days.district_code,
        enrolled_days.student_key,
        enrolled_days.school_key,
        enrolled_days.calendar_date,
        keyed_events.attendance_code,
        -- An unmapped code leaves the day's fractions NULL (unknown), never silently present.
        case
            when keyed_events.attendance_code is null then 0.0
            else keyed_events.absent_day_fraction
        end as absent_fraction,
        case
            when keyed_events.attendance_code is null then 1.0
            else 1.0 - keyed_events.absent_day_fraction
        end as present_fraction,
        coalesce(keyed_events.absent_day_fraction > 0 and keyed_events.is_excused, false) as is_excused_absence,
        coalesce(keyed_events.absent_day_fraction > 0 and not keyed_events.is_excused, false) as is_unexcused_absence,
        coalesce(keyed_events.is_tardy, false) as is_tardy,
        keyed_events.absent_day_fraction_source,
        keyed_events.attendance_batch_id
    from enrolled_days
    left join keyed_events
        on keyed_events.student_key = enrolled_days.student_key
        and keyed_events.school_key = enrolled_days.school_key
        and keyed_events.attendance_date = enrolled_days.calendar_date
)

select * from final
