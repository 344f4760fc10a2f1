"""Label tasks: `Classifier` and `Tagger`, their tiers (nano, micro, auto) and their metrics."""
