with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'courses') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as course_sourced_id,
        {{ adapter.quote('schoolYearSourcedId') }} as school_year_session_sourced_id,
        title as course_title,
        {{ adapter.quote('courseCode') }} as course_code,
        grades as grade_levels,
        {{ adapter.quote('orgSourcedId') }} as org_sourced_id,
        subjects,
        {{ adapter.quote('subjectCodes') }} as subject_codes,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
