"""dagster-dbt wiring."""
