with landed as (
    select * from {{ current_appended_records(
        'nwea_map', 'assessment_results',
        ['term_name', 'student_id', 'subject', 'test_id', 'test_start_date', 'test_start_time']
    ) }} as records
),

renamed as (
    select
        _district_code as district_code,
        student_id as vendor_student_id,
        student_state_id as state_student_id,
        school_state_id as state_school_id,
        school_name,
        term_name,
        season,
        cast(school_year as integer) as school_year,
        subject,
        course,
        test_type,
        test_name,
        test_id,
        cast(test_start_date as date) as test_date,
        cast(test_duration_minutes as integer) as test_duration_minutes,
        cast(test_rit_score as integer) as rit_score,
        cast(test_standard_error as decimal(6, 2)) as rit_standard_error,
        cast(test_percentile as integer) as percentile,
        achievement_quintile,
        cast(fall_to_spring_projected_growth as decimal(6, 2)) as fall_to_spring_projected_growth,
        cast(fall_to_spring_observed_growth as decimal(6, 2)) as fall_to_spring_observed_growth,
        fall_to_spring_met_projected_growth,
        cast(lexile_score as integer) as lexile_score,
        cast(quantile_score as integer) as quantile_score,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
