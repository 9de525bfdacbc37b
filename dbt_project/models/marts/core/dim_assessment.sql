-- The assessments results reference: one row per vendor, test and subject as fct_assessment_result
-- has them, with the scale it reports, how it reports performance levels, the results and dates
-- it holds, and how mart_assessment_proficiency decides proficiency for it (configured cut
-- scores, business_rules.proficiency_cut_scores, or the vendor's own performance level).
with results as (
    select * from {{ ref('fct_assessment_result') }}
),

cut_scores as (
    select distinct assessment_name, subject from ({{ configured_proficiency_cut_scores() }}) as cuts
),

assessments as (
    select
        assessment_key,
        district_code,
        vendor,
        assessment_name,
        subject,
        count(*) as results,
        count(distinct source_student_id) as students_tested,
        min(scale_score) as min_scale_score,
        max(scale_score) as max_scale_score,
        max(case when percentile is not null then 1 else 0 end) = 1 as reports_percentile,
        max(case when growth is not null then 1 else 0 end) = 1 as reports_growth,
        min(test_date) as first_test_date,
        max(test_date) as last_test_date
    from results
    group by assessment_key, district_code, vendor, assessment_name, subject
),

final as (
    select
        assessments.assessment_key,
        assessments.district_code,
        assessments.vendor,
        case assessments.vendor
            when 'nwea_map' then 'NWEA MAP Growth'
            when 'iready' then 'Curriculum Associates i-Ready'
            when 'state_assessment' then 'State summative assessment'
            else assessments.vendor
        end as vendor_name,
        assessments.assessment_name,
        assessments.subject,
        case assessments.vendor
            when 'nwea_map' then 'RIT'
            when 'iready' then 'i-Ready scale score'
            else 'scale score'
        end as scale_name,
        case assessments.vendor
            when 'nwea_map' then 'achievement quintile (Low, LoAvg, Avg, HiAvg, High)'
            when 'iready' then 'placement (Early, Mid or Late and a grade)'
            else 'achievement level'
        end as performance_level_scheme,
        assessments.min_scale_score,
        assessments.max_scale_score,
        assessments.reports_percentile,
        assessments.reports_growth,
        exists (
            select 1 from cut_scores
            where cut_scores.assessment_name = assessments.assessment_name
                and (cut_scores.subject is null or cut_scores.subject = assessments.subject)
        ) as has_configured_cut_scores,
        assessments.results,
        assessments.students_tested,
        assessments.first_test_date,
        assessments.last_test_date
    from assessments
)

select * from final
