"""Publishing extracts from the build warehouse: OneRoster CSV bundles, Ed-Fi JSON and API loads,
research extracts, each under one recipient's data-sharing agreement.

Plain Python (no Dagster): `deliver.publish_recipient` builds, checks and delivers one recipient's
extract; the assets in interop_pipeline/assets/publish/ only call it.
"""
