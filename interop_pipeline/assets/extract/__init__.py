"""Extraction assets: one module per source system; they write only to the landing zone."""
