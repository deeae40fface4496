"""Replay: a recorded run's inputs through new code (API, runs, units, plans, CLI, plots)."""
