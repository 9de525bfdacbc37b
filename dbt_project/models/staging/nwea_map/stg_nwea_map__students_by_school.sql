with landed as (
    select * from {{ current_appended_records(
        'nwea_map', 'students_by_school', ['term_name', 'school_name', 'student_id']
    ) }} as records
),

renamed as (
    select
        _district_code as district_code,
        term_name,
        season,
        cast(school_year as integer) as school_year,
        school_name,
        student_id as vendor_student_id,
        student_first_name as first_name,
        student_middle_initial as middle_initial,
        student_last_name as last_name,
        cast(student_date_of_birth as date) as birth_date,
        student_ethnic_group as ethnic_group,
        student_gender as gender,
        grade,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
