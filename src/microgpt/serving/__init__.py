"""Serving: a FastAPI app hosting every promoted module in the registry (`microgpt serve`)."""
