"""OneRoster 1.2 rostering REST: the read protocol (protocol.py), shared by the simulated SIS and
by `interop-pipeline serve` (server.py), which serves each recipient its roster from the
published warehouse."""
