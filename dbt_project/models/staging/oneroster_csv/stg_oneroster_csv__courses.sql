with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'courses') }}
),

renamed as (
    select
        _district_code as district_code,
        "sourcedId" as course_sourced_id,
        "schoolYearSourcedId" as school_year_session_sourced_id,
        title as course_title,
        "courseCode" as course_code,
        grades as grade_levels,
        "orgSourcedId" as org_sourced_id,
        subjects,
        "subjectCodes" as subject_codes,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
