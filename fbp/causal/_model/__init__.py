"""Structural causal models: fitting (dowhy.gcm), the fast linear engine, noise, tests, saving."""
