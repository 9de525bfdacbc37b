with landed as (
    select * from {{ api_current_records('oneroster_api', 'demographics') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as user_sourced_id,
        cast({{ json_text('record_json', '$.birthDate') }} as date) as birth_date,
        {{ json_text('record_json', '$.sex') }} as sex,
        {{ oneroster_bool(json_text('record_json', '$.americanIndianOrAlaskaNative')) }} as race_american_indian_or_alaska_native,
        {{ oneroster_bool(json_text('record_json', '$.asian')) }} as race_asian,
        {{ oneroster_bool(json_text('record_json', '$.blackOrAfricanAmerican')) }} as race_black_or_african_american,
        {{ oneroster_bool(json_text('record_json', '$.nativeHawaiianOrOtherPacificIslander')) }} as race_native_hawaiian_or_pacific_islander,
        {{ oneroster_bool(json_text('record_json', '$.white')) }} as race_white,
        {{ oneroster_bool(json_text('record_json', '$.demographicRaceTwoOrMoreRaces')) }} as race_two_or_more,
        {{ oneroster_bool(json_text('record_json', '$.hispanicOrLatinoEthnicity')) }} as hispanic_or_latino,
        -- SIS extensions (the record's metadata object): program participation flags.
        {{ oneroster_bool(json_text('record_json', '$.metadata.englishLearner')) }} as is_english_learner,
        {{ oneroster_bool(json_text('record_json', '$.metadata.idea')) }} as has_idea_services,
        {{ oneroster_bool(json_text('record_json', '$.metadata.section504')) }} as has_section_504_plan,
        {{ oneroster_bool(json_text('record_json', '$.metadata.economicallyDisadvantaged')) }} as is_economically_disadvantaged,
        {{ oneroster_bool(json_text('record_json', '$.metadata.homeless')) }} as is_homeless,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
