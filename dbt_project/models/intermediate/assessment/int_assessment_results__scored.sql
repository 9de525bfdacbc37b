-- Every assessment result with its proficiency decided, by one rule per result:
-- 1. cut scores: where business_rules.proficiency_cut_scores configures the test (assessment
--    name), grade assessed and subject (or every subject), the level is the highest whose
--    minimum the scale score reaches (a subject's own cut scores before every-subject ones), and
--    the result is proficient when that level is one of the configured proficient_levels;
-- 2. otherwise the vendor's own performance level, as its declaration's conformance section
--    says which levels count as proficient (performance_levels[].proficient; e.g. the state's
--    levels 3 and 4, i-Ready placements on or above grade, MAP quintiles HiAvg and High).
-- Results with neither (an unknown level, no grade) have a NULL is_proficient.
with results as (
    select * from {{ ref('fct_assessment_result') }}
),

cut_levels as (
    {{ configured_proficiency_cut_scores() }}
),

configured as (
    select distinct
        results.assessment_result_key
    from results
    inner join cut_levels
        on results.assessment_name = cut_levels.assessment_name
        and results.grade_level_assessed = cut_levels.grade_level
        and (cut_levels.subject is null or cut_levels.subject = results.subject)
),

levels_reached as (
    select
        results.assessment_result_key,
        cut_levels.performance_level,
        cut_levels.is_proficient_level,
        row_number() over (
            partition by results.assessment_result_key
            order by case when cut_levels.subject is null then 1 else 0 end, cut_levels.level_minimum desc
        ) as level_rank
    from results
    inner join cut_levels
        on results.assessment_name = cut_levels.assessment_name
        and results.grade_level_assessed = cut_levels.grade_level
        and (cut_levels.subject is null or cut_levels.subject = results.subject)
        and results.scale_score >= cut_levels.level_minimum
),

final as (
    select
        results.assessment_result_key,
        results.assessment_key,
        results.district_code,
        results.student_key,
        results.vendor,
        results.assessment_name,
        results.subject,
        results.school_year,
        results.season,
        results.test_date,
        results.grade_level_assessed,
        results.scale_score,
        results.percentile,
        results.performance_level,
        case
            when configured.assessment_result_key is not null then 'cut_scores'
            when results.vendor_is_proficient is not null then 'vendor_level'
        end as proficiency_method,
        case
            when configured.assessment_result_key is not null then levels_reached.performance_level
            else results.performance_level
        end as proficiency_level,
        case
            when configured.assessment_result_key is not null then coalesce(levels_reached.is_proficient_level, false)
            else results.vendor_is_proficient
        end as is_proficient
    from results
    left join configured on results.assessment_result_key = configured.assessment_result_key
    left join levels_reached
        on results.assessment_result_key = levels_reached.assessment_result_key
        and levels_reached.level_rank = 1
)

select * from final
