-- Every current assessment result of every declared vendor file, conformed while it landed
-- (connectors/conformance.py): one row per student result, whatever the vendor's layout.
with landed as (
    select * from {{ current_conformed_records('assessment_results') }} as records
),

renamed as (
    select
        _district_code as district_code,
        _source_system as source_system,
        declaration,
        entity,
        result_id,
        student_id,
        assessment_identifier,
        assessment_title,
        assessment_family,
        assessment_version,
        namespace,
        vendor_name,
        academic_subject,
        grade_assessed,
        cast(administration_date as date) as administration_date,
        cast(school_year as integer) as school_year,
        season,
        cast(scale_score as double) as scale_score,
        cast(percentile as double) as percentile,
        cast(standard_error as double) as standard_error,
        performance_level,
        cast(is_proficient as boolean) as is_proficient,
        _batch_id as batch_id,
        _extracted_at as extracted_at,
        _source_ref as source_ref
    from landed
)

select * from renamed
