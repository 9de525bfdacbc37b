-- Year-to-date attendance per student, district-wide and at each school attended, with every
-- configured chronic-absence definition applied side by side as rows (one per definition), so
-- adding a definition to the district config adds rows, never columns.
--
-- Rules (business_rules in the district config, documented in _analytics__models.yml):
-- * Year to date runs from the first instructional day through attendance_through_date (default:
--   the latest date in the SIS attendance export).
-- * District-wide, a day enrolled at two schools (a transfer on the same day) counts once, as
--   the less absent of the two school records: attending either school is attending.
-- * days_absent_counted leaves out excused absences when a definition does not count them.
-- * A student is measured by a definition only with at least its min_days_enrolled; chronic when
--   days_absent_counted / days_enrolled >= min_absence_rate, or days_absent_counted >=
--   min_days_absent for an absolute-day definition.
with daily_attendance as (
    select * from {{ ref('fct_student_daily_attendance') }}
),

attendance_events as (
    select * from {{ ref('stg_sis_attendance__daily_attendance') }}
),

definitions as (
    {{ chronic_absence_definitions() }}
),

through as (
    {{ attendance_through_date('attendance_events', 'attendance_date') }}
),

days_to_date as (
    select daily_attendance.*
    from daily_attendance
    inner join through on daily_attendance.calendar_date <= through.through_date
),

-- One school record per student per day for the district-wide figures (see the rules above).
district_days as (
    select *
    from (
        select
            days_to_date.*,
            row_number() over (
                partition by student_key, calendar_date
                order by coalesce(absent_fraction, 1.0), school_key
            ) as school_record_rank
        from days_to_date
    ) as ranked
    where school_record_rank = 1
),

student_days as (
    select 'school' as reporting_level, district_code, student_key, school_key, calendar_date,
        absent_fraction, present_fraction, is_excused_absence, is_tardy
    from days_to_date
    union all
    select 'district' as reporting_level, district_code, student_key, cast(null as {{ dbt.type_string() }}) as school_key,
        calendar_date, absent_fraction, present_fraction, is_excused_absence, is_tardy
    from district_days
),

totals as (
    select
        reporting_level,
        district_code,
        student_key,
        school_key,
        count(*) as days_enrolled,
        sum(present_fraction) as days_present,
        sum(absent_fraction) as days_absent,
        sum(case when is_excused_absence then absent_fraction else 0 end) as excused_days_absent,
        sum(case when is_excused_absence then 0 else absent_fraction end) as unexcused_days_absent,
        sum(case when is_tardy then 1 else 0 end) as tardies,
        count(*) - count(absent_fraction) as days_with_unmapped_code,
        min(calendar_date) as first_day_enrolled,
        max(calendar_date) as last_day_enrolled
    from student_days
    group by reporting_level, district_code, student_key, school_key
),

measured as (
    select
        totals.*,
        definitions.definition_name,
        definitions.min_absence_rate,
        definitions.min_days_absent,
        definitions.min_days_enrolled,
        definitions.count_excused,
        case when definitions.count_excused then totals.days_absent
            else totals.unexcused_days_absent end as days_absent_counted
    from totals
    cross join definitions
),

final as (
    select
        {{ surrogate_key(['measured.student_key', 'measured.reporting_level', 'measured.school_key', 'measured.definition_name']) }}
            as student_attendance_key,
        measured.district_code,
        measured.student_key,
        measured.reporting_level,
        measured.school_key,
        measured.definition_name,
        through.through_date,
        measured.first_day_enrolled,
        measured.last_day_enrolled,
        measured.days_enrolled,
        measured.days_present,
        measured.days_absent,
        measured.excused_days_absent,
        measured.unexcused_days_absent,
        measured.tardies,
        measured.days_with_unmapped_code,
        measured.days_present / measured.days_enrolled as attendance_rate,
        measured.days_absent / measured.days_enrolled as absence_rate,
        measured.days_absent_counted,
        measured.days_absent_counted / measured.days_enrolled as absence_rate_counted,
        measured.days_enrolled >= measured.min_days_enrolled as is_measured,
        measured.days_enrolled >= measured.min_days_enrolled
        and case
            when measured.min_absence_rate is not null
                then measured.days_absent_counted / measured.days_enrolled >= measured.min_absence_rate
            else measured.days_absent_counted >= measured.min_days_absent
        end as is_chronically_absent
    from measured
    cross join through
)

select * from final
