"""Engines for big jobs: every row of a file, a directory or a glob labelled, evaluated, or sent to the teacher.

    predict_table("router/", "tickets/", "labelled.parquet")                     # local: this process (default)
    predict_table("router/", "s3://b/tickets/", "out.csv", engine="ray", workers=8, address="auto")

`engine="local"` needs nothing more; `engine="ray"` runs the same `predict` on Ray Data (`map_batches` with a
stateful predictor that loads the module once per worker) on a local or a real cluster — no scheduler of our own.
Both write the input columns plus the same answer columns, in input order, and give the same labels.
"""

from __future__ import annotations

from microgpt.batch.answers import ENGINES, AnswerOptions, BatchSummary
from microgpt.batch.predict import evaluate_table, predict_table

__all__ = ["ENGINES", "AnswerOptions", "BatchSummary", "evaluate_table", "predict_table"]
