-- Negative attendance: one row per absence or tardy; a day without a row is a day present.
with landed as (
    select * from {{ current_appended_records(
        'sis_attendance', 'daily_attendance', ['student_number', 'school_id', 'att_date']
    ) }} as records
),

renamed as (
    select
        _district_code as district_code,
        student_number as local_student_id,
        school_id as state_school_id,
        cast(att_date as date) as attendance_date,
        att_code as attendance_code,
        description as attendance_code_description,
        presence_status,
        cast(total_minutes as integer) as minutes,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
