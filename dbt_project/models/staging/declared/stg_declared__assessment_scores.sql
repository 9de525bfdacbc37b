-- Every score and performance level of every current declared assessment result, and of its
-- objective assessments (objective is null for the overall result): long, one row per result,
-- objective, reporting method.
with scores as (
    select * from {{ source('declared', 'assessment_scores') }}
),

results as (
    select result_id, source_system, batch_id from {{ ref('stg_declared__assessment_results') }}
),

current_scores as (
    select
        results.source_system,
        scores.declaration,
        scores.result_id,
        scores.objective,
        scores.kind,
        scores.reporting_method,
        scores.result_datatype,
        scores.result,
        cast(scores.is_proficient as boolean) as is_proficient,
        scores._batch_id as batch_id,
        scores._source_ref as source_ref
    from scores
    inner join results
        on scores.result_id = results.result_id
        and scores._source_system = results.source_system
        and scores._batch_id = results.batch_id
)

select * from current_scores
