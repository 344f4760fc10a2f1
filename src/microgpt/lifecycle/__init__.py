"""A module's life after its first training: gated retraining and labelling with an LLM teacher."""
