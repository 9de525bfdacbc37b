with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'demographics') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as user_sourced_id,
        cast({{ adapter.quote('birthDate') }} as date) as birth_date,
        sex,
        {{ oneroster_bool(adapter.quote('americanIndianOrAlaskaNative')) }} as race_american_indian_or_alaska_native,
        {{ oneroster_bool(adapter.quote('asian')) }} as race_asian,
        {{ oneroster_bool(adapter.quote('blackOrAfricanAmerican')) }} as race_black_or_african_american,
        {{ oneroster_bool(adapter.quote('nativeHawaiianOrOtherPacificIslander')) }} as race_native_hawaiian_or_pacific_islander,
        {{ oneroster_bool(adapter.quote('white')) }} as race_white,
        {{ oneroster_bool(adapter.quote('demographicRaceTwoOrMoreRaces')) }} as race_two_or_more,
        {{ oneroster_bool(adapter.quote('hispanicOrLatinoEthnicity')) }} as hispanic_or_latino,
        -- SIS extension columns (metadata.*): program participation flags.
        {{ oneroster_bool(adapter.quote('metadata.englishLearner')) }} as is_english_learner,
        {{ oneroster_bool(adapter.quote('metadata.idea')) }} as has_idea_services,
        {{ oneroster_bool(adapter.quote('metadata.section504')) }} as has_section_504_plan,
        {{ oneroster_bool(adapter.quote('metadata.economicallyDisadvantaged')) }} as is_economically_disadvantaged,
        {{ oneroster_bool(adapter.quote('metadata.homeless')) }} as is_homeless,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed
