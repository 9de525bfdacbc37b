with landed as (
    select * from {{ current_appended_records(
        'state_assessment', 'summative_results', ['state_student_id', 'school_year', 'subject']
    ) }} as records
),

renamed as (
    select
        _district_code as district_code,
        state_student_id,
        local_student_id,
        cast(school_year as integer) as school_year,
        subject,
        grade_assessed,
        cast(scale_score as integer) as scale_score,
        achievement_level,
        cast(test_date as date) as test_date,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
