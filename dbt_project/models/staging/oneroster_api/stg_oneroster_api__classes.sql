with landed as (
    select * from {{ api_current_records('oneroster_api', 'classes') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as class_sourced_id,
        {{ json_text('record_json', '$.title') }} as class_title,
        {{ oneroster_api_text_list('record_json', '$.grades[*]') }} as grade_levels,
        {{ json_text('record_json', '$.course.sourcedId') }} as course_sourced_id,
        {{ json_text('record_json', '$.classCode') }} as class_code,
        {{ json_text('record_json', '$.classType') }} as class_type,
        {{ json_text('record_json', '$.location') }} as location,
        {{ json_text('record_json', '$.school.sourcedId') }} as school_sourced_id,
        {{ oneroster_api_text_list('record_json', '$.terms[*].sourcedId') }} as term_sourced_ids,
        {{ oneroster_api_text_list('record_json', '$.subjects[*]') }} as subjects,
        {{ oneroster_api_text_list('record_json', '$.subjectCodes[*]') }} as subject_codes,
        {{ oneroster_api_text_list('record_json', '$.periods[*]') }} as periods,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
