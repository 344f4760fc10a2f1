"""Deciding what to do with a prediction: calibration, cascade policy, LLM fallback."""
