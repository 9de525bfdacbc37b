"""Dagster assets, grouped by role: extract/, release."""
