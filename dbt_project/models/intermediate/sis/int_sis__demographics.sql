-- The SIS's current demographics from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('demographics') }}
