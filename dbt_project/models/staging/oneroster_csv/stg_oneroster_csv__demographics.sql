with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'demographics') }}
),

renamed as (
    select
        _district_code as district_code,
        "sourcedId" as user_sourced_id,
        cast("birthDate" as date) as birth_date,
        sex,
        {{ oneroster_bool('"americanIndianOrAlaskaNative"') }} as race_american_indian_or_alaska_native,
        {{ oneroster_bool('"asian"') }} as race_asian,
        {{ oneroster_bool('"blackOrAfricanAmerican"') }} as race_black_or_african_american,
        {{ oneroster_bool('"nativeHawaiianOrOtherPacificIslander"') }} as race_native_hawaiian_or_pacific_islander,
        {{ oneroster_bool('"white"') }} as race_white,
        {{ oneroster_bool('"demographicRaceTwoOrMoreRaces"') }} as race_two_or_more,
        {{ oneroster_bool('"hispanicOrLatinoEthnicity"') }} as hispanic_or_latino,
        -- SIS extension columns (metadata.*): program participation flags.
        {{ oneroster_bool('"metadata.englishLearner"') }} as is_english_learner,
        {{ oneroster_bool('"metadata.idea"') }} as has_idea_services,
        {{ oneroster_bool('"metadata.section504"') }} as has_section_504_plan,
        {{ oneroster_bool('"metadata.economicallyDisadvantaged"') }} as is_economically_disadvantaged,
        {{ oneroster_bool('"metadata.homeless"') }} as is_homeless,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
