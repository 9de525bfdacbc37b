with landed as (
    select * from {{ current_appended_records(
        'nwea_map', 'class_assignments', ['term_name', 'school_name', 'student_id', 'class_name', 'teacher_name']
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
        class_name,
        teacher_name,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
