"""Connectors: one module per external system or file format. Pure Python, no Dagster imports."""
