with landed as (
    select * from {{ api_current_records('oneroster_api', 'courses') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as course_sourced_id,
        {{ json_text('record_json', '$.schoolYear.sourcedId') }} as school_year_session_sourced_id,
        {{ json_text('record_json', '$.title') }} as course_title,
        {{ json_text('record_json', '$.courseCode') }} as course_code,
        {{ oneroster_api_text_list('record_json', '$.grades[*]') }} as grade_levels,
        {{ json_text('record_json', '$.org.sourcedId') }} as org_sourced_id,
        {{ oneroster_api_text_list('record_json', '$.subjects[*]') }} as subjects,
        {{ oneroster_api_text_list('record_json', '$.subjectCodes[*]') }} as subject_codes,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
