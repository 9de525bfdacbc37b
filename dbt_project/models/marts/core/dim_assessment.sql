-- The assessments results reference: one row per vendor, assessment and subject as
-- fct_assessment_result has them, with its title, family, publisher and Ed-Fi namespace (from
-- the vendor's declaration), the reporting methods it uses, the results and dates it holds, and how mart_assessment_proficiency decides proficiency for it (configured cut
-- scores, business_rules.proficiency_cut_scores, or the vendor's own performance level).
with results as (
    select * from {{ ref('fct_assessment_result') }}
),

conformed as (
    select * from {{ ref('stg_declared__assessment_results') }}
),

scores as (
    select * from {{ ref('stg_declared__assessment_scores') }}
),

-- What the declaration says of the assessment (the same on every result of one test).
described as (
    select
        source_system,
        assessment_identifier,
        academic_subject,
        max(assessment_title) as assessment_title,
        max(assessment_family) as assessment_family,
        max(namespace) as namespace,
        max(vendor_name) as vendor_name
    from conformed
    group by source_system, assessment_identifier, academic_subject
),

methods as (
    select
        conformed.source_system,
        conformed.assessment_identifier,
        conformed.academic_subject,
        max(case when scores.kind = 'score' and scores.objective is null then scores.reporting_method end) as scale_name,
        max(case when scores.kind = 'performance_level' and scores.objective is null then scores.reporting_method end)
            as performance_level_scheme,
        count(distinct scores.objective) as objectives
    from conformed
    inner join scores on conformed.result_id = scores.result_id and conformed.source_system = scores.source_system
    group by conformed.source_system, conformed.assessment_identifier, conformed.academic_subject
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
        described.vendor_name,
        assessments.assessment_name,
        described.assessment_title,
        described.assessment_family,
        described.namespace,
        assessments.subject,
        methods.scale_name,
        methods.performance_level_scheme,
        coalesce(methods.objectives, 0) as objective_assessments,
        assessments.min_scale_score,
        assessments.max_scale_score,
        assessments.reports_percentile,
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
    left join described
        on assessments.vendor = described.source_system
        and assessments.assessment_name = described.assessment_identifier
        and assessments.subject = described.academic_subject
    left join methods
        on assessments.vendor = methods.source_system
        and assessments.assessment_name = methods.assessment_identifier
        and assessments.subject = methods.academic_subject
)

select * from final
