-- Every score and performance level of every assessment result, and of its objective
-- assessments (domains, sub-scores; objective is null for the overall result), long: one row per
-- result, objective and reporting method, keyed to fct_assessment_result.
with results as (
    select assessment_result_key, district_code, vendor, result_id, student_key from {{ ref('fct_assessment_result') }}
),

scores as (
    select * from {{ ref('stg_declared__assessment_scores') }}
),

final as (
    select
        {{ surrogate_key(['results.assessment_result_key', 'scores.objective', 'scores.kind', 'scores.reporting_method']) }}
            as assessment_score_key,
        results.assessment_result_key,
        results.district_code,
        results.vendor,
        results.student_key,
        scores.objective,
        scores.kind,
        scores.reporting_method,
        scores.result_datatype,
        scores.result,
        scores.is_proficient
    from scores
    inner join results on scores.result_id = results.result_id and scores.source_system = results.vendor
)

select * from final
