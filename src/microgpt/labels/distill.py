"""The teacher of a distilled classifier: checked against the student's labels, asked once for its probabilities.

    model = Classifier("micro", teacher="teacher/").fit(data)    # or teacher=<a fitted Classifier>
    # CLI: microgpt train DATA --tier micro --teacher teacher/ --out router/

The usual teacher is a micro classifier on the stronger encoder (`--backbone mpnet`), trained once on the same data;
the student is micro on MiniLM, so the served module keeps MiniLM's latency and size. The teacher's probabilities on
every training text are computed here once (batched, no gradients); the saved student does not need the teacher to
load or predict. What is recorded about the teacher (`teacher_record`) goes into the student's manifest.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from microgpt.backbones.encoder import backbone_name
from microgpt.data.digests import DIGEST_BYTES, TRAIN_TEXTS, text_digests
from microgpt.data.records import Dataset
from microgpt.errors import ConfigError, DataError
from microgpt.module import manifest_digest
from microgpt.progress import Progress, no_progress
from microgpt.task import load

log = logging.getLogger(__name__)

TEACHER_FIX = "train the teacher on the same labelled data first, e.g. microgpt train DATA --tier micro --backbone mpnet --out teacher/"  # noqa: E501


def resolve_teacher(teacher: Any) -> Any:
    """A fitted Classifier from a module path or a Classifier object; clear errors otherwise."""
    if isinstance(teacher, (str, Path)):
        path = Path(teacher).expanduser()
        if not path.is_dir():
            raise ConfigError(f"teacher module not found: {teacher}", hint=TEACHER_FIX)
        teacher = load(path)
    if not hasattr(teacher, "predict_proba") or not hasattr(teacher, "labels_"):
        if hasattr(teacher, "predict_proba"):  # a Classifier not fitted yet
            raise ConfigError("the teacher is not fitted", hint=TEACHER_FIX.replace("first, e.g.", "first (fit), or"))
        raise ConfigError(
            f"teacher must be a trained Classifier or its module directory, got {type(teacher).__name__}",
            hint=TEACHER_FIX,
        )
    if getattr(teacher, "task", None) != "classify":
        raise ConfigError(
            f"the teacher is a {getattr(teacher, 'task', '?')} module; distillation needs a classify one",
            hint=TEACHER_FIX,
        )
    return teacher


def teacher_proba(
    teacher: Any, labels: list[str], texts: list[str], progress: Progress = no_progress, batch: int = 256
) -> np.ndarray:
    """The teacher's calibrated probabilities (N, len(labels)), columns in the student's `labels` order."""
    known = list(teacher.labels_)
    missing, extra = sorted(set(labels) - set(known)), sorted(set(known) - set(labels))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"the data has {len(missing)} label(s) the teacher was not trained on: {_few(missing)}")
        if extra:
            parts.append(f"the teacher knows {len(extra)} label(s) the data lacks: {_few(extra)}")
        raise DataError(
            "the teacher's labels differ from the training data's (" + "; ".join(parts) + ")",
            hint=TEACHER_FIX.replace("first", "so both have one label set"),
        )
    order = [known.index(label) for label in labels]
    out = np.zeros((len(texts), len(labels)), dtype=np.float32)
    for start in range(0, len(texts), batch):  # predict_proba runs without gradients, in length-sorted batches
        out[start : start + batch] = teacher.predict_proba(texts[start : start + batch])[:, order]
        progress("teacher", min(start + batch, len(texts)), len(texts))
    return out


def teacher_seen(teacher: Any, texts: list[str]) -> np.ndarray | None:
    """Per text, whether it was one of the teacher's training texts (from its digests); None when unknown. The
    student's dev texts should not be: a teacher scored on its own training texts looks better than it is."""
    raw = getattr(teacher, "train_texts_", None)
    path = getattr(teacher, "path_", None)
    if raw is None and path is not None and (Path(path) / TRAIN_TEXTS).is_file():
        raw = (Path(path) / TRAIN_TEXTS).read_bytes()
    if raw is None:
        return None
    known = {raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)}
    return np.array([text_digests([t]) in known for t in texts], dtype=bool)


def teacher_record(teacher: Any, source: Any, data: Dataset, dev_fraction: float, seed: int) -> dict[str, Any]:
    """What the student's manifest says about its teacher: which module, which encoder, how good it was, and whether
    it held out the same dev split as the student will (a micro teacher fitted on the same data, seed and fraction)."""
    engine = teacher.engine_
    config = getattr(engine, "config", None)
    same_split = (
        engine.tier == "micro"
        and (getattr(teacher, "data_info_", {}) or {}).get("fingerprint") == data.fingerprint()
        and getattr(teacher, "seed", None) == seed
        and getattr(config, "dev_fraction", None) == dev_fraction
    )
    members = (getattr(engine, "fit_result_", {}) or {}).get("members") or [{}]
    fit_dev = members[0].get("best_dev")
    path = getattr(teacher, "path_", None)
    record: dict[str, Any] = {
        "source": str(source) if isinstance(source, (str, Path)) else (str(path) if path else "in-memory Classifier"),
        "tier": engine.tier,
        "backbone": backbone_name(config.backbone) if config is not None and hasattr(config, "backbone") else None,
        "fit_dev_accuracy": round(float(fit_dev), 4) if fit_dev is not None and fit_dev == fit_dev else None,
        "test_accuracy": (getattr(teacher, "metrics_", {}) or {}).get("accuracy"),
        "same_dev_split": bool(same_split),
    }
    if path is not None and (Path(path) / "microgpt.json").is_file():
        manifest = json.loads((Path(path) / "microgpt.json").read_text())
        record.update(
            created_at=manifest.get("created_at"),
            module_sha256=manifest.get("manifest_sha256") or manifest_digest(manifest),
            microgpt=(manifest.get("versions") or {}).get("microgpt"),
        )
    return record


def check_teacher_proba(teacher: np.ndarray, targets: np.ndarray, n_out: int, multilabel: bool, backbone: str) -> None:
    """The student's side: one teacher probability row per training text, a column per label, an encoder to tune."""
    from microgpt.backbones.sentence import is_sentence_encoder

    if multilabel:
        raise ConfigError("distillation needs single-label data", hint="train a Classifier, or drop the teacher")
    if is_sentence_encoder(backbone):
        raise ConfigError(
            f"a frozen sentence encoder ({backbone!r}) cannot be distilled into",
            hint="distil into a fine-tuned encoder: leave micro's backbone at default",
        )
    if teacher.shape != (len(targets), n_out):
        raise ConfigError(
            f"teacher probabilities have shape {teacher.shape}, expected {(len(targets), n_out)}",
            hint="pass the teacher's predict_proba over the same texts, columns in the targets' label order",
        )


def student_summary(
    teacher_dev: np.ndarray, dev_logits: np.ndarray, dev_y: np.ndarray, info: dict[str, Any] | None,
    seen: int | None, cfg: Any,
) -> dict[str, Any]:  # fmt: skip
    """Teacher and student side by side on the student's dev split (texts neither trained on)."""
    t_pred, s_pred = teacher_dev.argmax(1), dev_logits.argmax(1)
    has_dev = len(dev_y) > 0
    if seen:
        log.warning("the teacher was fitted on %d of the student's %d dev texts: its dev accuracy is optimistic "
                    "(train a micro teacher on the same data and seed, so both hold out the same dev split)",
                    seen, len(dev_y))  # fmt: skip
    return {
        "teacher": info or {},
        "weight": cfg.distill_weight,
        "temperature": cfg.distill_temperature,
        "dev_size": len(dev_y),
        "teacher_dev_accuracy": round(float((t_pred == dev_y).mean()), 4) if has_dev else None,
        "student_dev_accuracy": round(float((s_pred == dev_y).mean()), 4) if has_dev else None,
        "agreement_dev": round(float((t_pred == s_pred).mean()), 4) if has_dev else None,
        "teacher_fitted_on_dev": seen,  # > 0: the teacher's dev accuracy is flattered by texts it was fitted on
    }


def _few(names: list[str], n: int = 5) -> str:
    return ", ".join(repr(x) for x in names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
