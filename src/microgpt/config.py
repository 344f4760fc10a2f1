"""Typed, frozen settings for each tier. A typo in a key is an error naming the nearest valid key.

Every default says why it is what it is; the resolved config is saved inside every trained module.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from microgpt.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NanoConfig(_Frozen):
    """Sparse n-gram TF-IDF + a linear model: no pretrained weights, trains in seconds, predicts in ~0.1 ms."""

    word_ngrams: tuple[int, int] = (1, 3)  # trigrams catch "card not working" vs "card not arrived"
    char_ngrams: tuple[int, int] = (1, 5)  # character n-grams absorb typos and word forms ("refund", "refunded")
    skip_window: int = Field(0, ge=0, le=8)  # word pairs up to this far apart; 0 = off (measured: no gain)
    min_df: int = Field(1, ge=1)  # keep n-grams seen once: with ~10k texts rare n-grams still help
    model: Literal["svm", "logreg"] = "svm"  # LinearSVC trains in ~2 s; logreg is ~0.3 pt better, ~10x slower
    c: float = Field(1.0, gt=0)  # inverse regularisation; best of 0.3/0.5/1 for the SVM on Banking77 (91.8%)
    balanced: bool = True  # weight classes inversely to their frequency: +0.2 pt on Banking77's balanced test set
    max_iter: int = Field(100, ge=10)  # logreg only: lbfgs iterations (tol 1e-3 converges well before 300)
    dev_fraction: float = Field(0.1, gt=0, lt=0.5)  # held out to fit the probability temperature / tag threshold


class CrfConfig(_Frozen):
    """Extraction's nano tier: a linear-chain CRF (CRFsuite, lbfgs) over word, shape, layout and amount features."""

    c1: float = Field(0.05, ge=0)  # L1: prunes the many one-off word features
    c2: float = Field(0.05, ge=0)  # L2
    iterations: int = Field(150, ge=1)  # lbfgs iterations

    @classmethod
    def upgrade(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Settings as modules before 0.2 saved them (the whole NanoConfig, with crf_c1/crf_c2/crf_iterations)."""
        if not any(k.startswith("crf_") for k in values):
            return values
        return {k.removeprefix("crf_"): v for k, v in values.items() if k.startswith("crf_")}


class MicroConfig(_Frozen):
    """A pretrained transformer encoder fine-tuned end to end with a linear head (mean pooling)."""

    backbone: str = "default"  # packaged all-MiniLM-L6-v2 (22M); "mpnet" all-mpnet-base-v2 (110M); a path, a hub name
    max_length: int = Field(128, ge=8, le=512)  # support messages are short; longer texts are truncated
    epochs: float = Field(8.0, gt=0)  # Banking77: dev accuracy still rises at epoch 7–8 of a decaying schedule
    min_steps: int = Field(600, ge=0)  # small data gets more epochs: NLU++ (1k texts) 85.7 → 88.9 micro-F1 at 600
    batch_size: int = Field(32, ge=1)
    lr: float | None = Field(None, gt=0)  # None: 1e-4 to classify (Banking77: 2e-4 no better), 3e-4 to tag; mpnet: half
    head_lr: float | None = Field(None, gt=0)  # None: 2e-3 / 1e-2 (tag: NLU++ 88.8 → 91.3 micro-F1 with both)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    label_smoothing: float = Field(0.1, ge=0, lt=1)  # softer targets: better-calibrated and slightly more accurate
    dropout: float = Field(0.1, ge=0, lt=1)
    freeze_embeddings: bool = True  # the 30k×384 token table is half the weights; freezing it: -20% step time, same acc
    bf16: bool | None = None  # bfloat16 autocast while training; None = on where the CPU has native bf16 (≈2x faster)
    patience: int = Field(3, ge=1)  # epochs without dev gain before stopping; the best epoch is kept either way
    members: int = Field(1, ge=1, le=8)  # >1: a seed ensemble, logits averaged (+accuracy, xN train time/latency)
    dev_fraction: float = Field(0.1, gt=0, lt=0.5)
    max_steps: int | None = Field(None, ge=1)  # cap for smoke tests and quick experiments
    max_minutes: float | None = Field(None, gt=0)  # wall-clock cap: training stops, the best epoch so far is kept
    ensemble_nano: bool = True  # blend in a nano model's probabilities, weight chosen on dev (0 if it does not help)
    threads: int | None = Field(None, ge=1)  # torch threads; None = torch's default (all cores)
    stride: int = Field(32, ge=0)  # extract: word pieces shared by neighbouring windows of a long document
    # distillation (only with a teacher): the loss is w * T² * KL(teacher_T ‖ student_T) + (1 - w) * CE(gold)
    distill_weight: float = Field(0.5, ge=0, le=1)  # Hinton et al.'s balance; 1 = teacher only, 0 = gold only
    distill_temperature: float = Field(2.0, gt=0)  # softens both sides so near-miss labels carry signal


class AutoConfig(_Frozen):
    """Train each candidate tier, keep the best on a held-out split within an optional latency budget."""

    candidates: tuple[Literal["nano", "micro"], ...] = ("nano", "micro")
    latency_budget_ms: float | None = Field(None, gt=0)  # single-text p50 in process; None = no limit
    dev_fraction: float = Field(0.15, gt=0, lt=0.5)


class TinyGPTConfig(_Frozen):
    """`tinygpt`, the reply task's micro tier: a small decoder-only transformer trained from scratch on message → reply
    pairs (backbones/tinygpt.py). Defaults: measured on Bitext customer support on 2 CPU cores (BENCHMARKS.md)."""

    backbone: Literal["tinygpt"] = "tinygpt"  # our own decoder; the only one for now
    vocab_size: int = Field(2048, ge=300, le=65536)  # byte-level BPE on the data; 4096 saves only 6% of Bitext tokens
    block_size: int = Field(384, ge=32, le=4096)  # message + reply tokens: 99.5% of Bitext replies fit (p99 285)
    max_message_tokens: int = Field(96, ge=4)  # a longer message is cut to its first tokens, with a warning
    n_layer: int = Field(4, ge=1, le=24)  # 4 x 256: 3.8M parameters; 1,400 tokens/s greedy on 2 cores, 680 guided
    n_head: int = Field(4, ge=1, le=64)
    n_embd: int = Field(256, ge=8, le=2048)  # a multiple of n_head
    dropout: float = Field(0.1, ge=0, lt=1)
    epochs: float = Field(16.0, gt=0)  # Bitext dev loss still falls at epoch 10; 16 take 24 min on 2 cores
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)  # peak AdamW rate, cosine-decayed to lr * min_lr_ratio over the run
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.1, ge=0)
    warmup_steps: int = Field(100, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    intent_dropout: float = Field(0.2, ge=0, le=1)  # share of training prompts shown without their intent
    # classifier-free guidance on the intent at decoding: 1 = off; >1 keeps the draft on the intent's own reply
    # (a second forward pass per token, through the prompt without its intent: what intent_dropout trains for)
    guidance: float = Field(1.5, ge=0, le=10)
    route_intents: bool = True  # data with intents: a nano classifier picks the intent when the caller gives none
    max_new_tokens: int = Field(400, ge=1)  # generation always stops here (or at the block size) if no end-of-reply
    dev_fraction: float = Field(0.03, ge=0, lt=0.5)  # held out to report the dev loss per epoch
    max_steps: int | None = Field(None, ge=1)  # cap for smoke tests
    max_minutes: float | None = Field(25.0, gt=0)  # wall-clock cap; the learning-rate schedule ends with it
    bf16: bool | None = None  # bfloat16 autocast while training; None = on where the CPU has native bf16
    threads: int | None = Field(2, ge=1)  # torch threads while training and generating


def make_config(model: type[_Frozen], values: dict[str, Any] | None = None) -> Any:
    """Validate `values` into `model`, turning pydantic errors into a ConfigError that suggests the fix."""
    values = dict(values or {})
    try:
        return model(**values)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            known = _known_keys(model, first["loc"][:-1])
            close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown setting {loc!r} for {model.__name__}", hint=hint) from None
        raise ConfigError(
            f"invalid setting {loc!r}: {first['msg']} (got {first.get('input')!r})", hint="see microgpt.config"
        ) from None


def _known_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return list(model.model_fields)
