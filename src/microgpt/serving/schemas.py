"""Typed request and response bodies of the REST API (they also document it in /docs)."""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from microgpt.routing.llm import FallbackConfig

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_unicode(value: Any, where: str) -> None:
    """Refuse lone surrogates (`"\\ud800"`: valid JSON, not valid UTF-8); they cannot be hashed, logged or stored."""
    if isinstance(value, str):
        found = None if value.isascii() else _SURROGATE.search(value)
        if found is not None:
            raise ValueError(
                f"{where} has a lone surrogate (U+{ord(found.group()):04X}) at character {found.start()}, which is "
                "not valid Unicode text; send valid UTF-8 (an emoji as one code point, not half a surrogate pair)"
            )
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_unicode(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_unicode(key, f"{where} key")
            check_unicode(item, f"{where}.{key}")


def _check_fields_unicode(model: BaseModel) -> None:
    for name in type(model).model_fields:
        check_unicode(getattr(model, name), name)


class ServeSettings(BaseModel):
    """Limits and options of one server; tests build their own instead of patching globals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: str | None = None  # $MICROGPT_HOME by default
    max_text_chars: int = Field(20_000, ge=1)  # one message; longer bodies are documents, not chat messages
    max_batch: int = Field(256, ge=1)  # texts per request
    max_body_bytes: int = Field(2_000_000, ge=1)
    keep_texts: bool = True  # False: the prediction log, feedback and review queue keep only a sha256 of each input
    log_predictions: bool = True
    host: str | None = None  # the bound interface; on loopback, requests must name a loopback Host (DNS rebinding)
    allowed_hosts: str = ""  # more Host names to accept on loopback, comma-separated (a reverse proxy's name)
    fallback: FallbackConfig | None = None  # the LLM escalations go to; None: they queue for a person
    fast_path: bool = True  # plain predict requests answered without the framework (serving/fast.py); same answers


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="One text to label.")
    texts: list[str] | None = Field(None, description="A batch of texts.")
    context: str | None = Field(None, description="Extractors: the slot just asked for, e.g. 'people'.", max_length=200)
    reference_date: datetime.date | None = Field(
        None, description="Extractors: resolve relative dates ('next Friday') against this day (default: today)."
    )
    intent: str | None = Field(None, description="Repliers: the message's intent (default: the module's guess).")
    fields: dict[str, str] | None = Field(
        None,
        description='Repliers: values for the reply\'s placeholders, e.g. {"Order Number": "4512"}.',
        max_length=100,
    )
    max_new_tokens: int | None = Field(None, ge=1, le=2000, description="Repliers: the most tokens to write.")
    stream: bool = Field(False, description="Repliers, one text: the draft as server-sent events, token by token.")

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('send either "text" (one) or "texts" (a batch), not both or neither')
        if self.stream and self.text is None:
            raise ValueError('"stream" writes one draft: send "text", not "texts"')
        _check_fields_unicode(self)
        return self


class _Prediction(BaseModel):
    request_id: str = Field(description="Send it back with feedback (POST /v1/modules/{name}/feedback).")


class Alternative(BaseModel):
    label: str
    confidence: float


class ClassifyPrediction(_Prediction):
    """A classifier's answer: the label, how sure, and what the module's policy decided."""

    task: Literal["classify"] = "classify"
    label: str
    confidence: float
    decision: Literal["answer", "escalate", "queue"] = Field(description="What the module's policy decided.")
    unknown: bool = Field(description="The input is unlike anything in training.")
    reason: str | None = Field(None, description="Why it is not answered: low_confidence or unknown_input.")
    top: list[Alternative] = Field([], description="The most probable labels, best first (up to 3).")
    answer: str | None = Field(None, description="The fallback model's label, when it answered an escalation.")
    answered_by: str | None = Field(None, description="'fallback' when the large model answered.")
    review_id: str | None = Field(None, description="The review-queue item, when the text waits for a person.")


class TagPrediction(_Prediction):
    """A tagger's answer: every label at or above the module's threshold."""

    task: Literal["tag"] = "tag"
    labels: list[str]
    confidences: list[float]


class ExtractPrediction(_Prediction):
    """An extractor's answer: typed field values and the spans behind them."""

    task: Literal["extract"] = "extract"
    fields: dict[str, Any] = Field(description="Normalised field values (None or [] where absent).")
    spans: list[dict[str, Any]] = Field(description="label, start, end, text, confidence and value of each span.")
    confidence: float | None = Field(None, description="The weakest span's confidence (what to check first).")


class ReplyPrediction(_Prediction):
    """A replier's draft, placeholders filled only from the fields given."""

    task: Literal["reply"] = "reply"
    reply: str
    intent: str | None = Field(None, description="The intent the draft was written for.")
    filled: list[str] = Field([], description="Placeholders filled from the fields given.")
    unfilled: list[str] = Field([], description="Placeholders left visible (no field given).")
    tokens: int
    first_token_ms: float | None = None
    ms: float | None = None


Prediction = Annotated[
    ClassifyPrediction | TagPrediction | ExtractPrediction | ReplyPrediction, Field(discriminator="task")
]
PREDICTION = TypeAdapter(Prediction)


class PredictResponse(BaseModel):
    module: str
    version: int
    prediction: Prediction | None = None
    predictions: list[Prediction] | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prediction_id: str | None = Field(None, description="The request_id of a logged prediction.")
    text: str | None = Field(None, description="The text, when not giving a prediction_id (or to override it).")
    label: str | None = None
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _target(self) -> FeedbackRequest:
        if (self.label is None) == (self.labels is None):
            raise ValueError('send the correct answer as "label" (classifier) or "labels" (tagger)')
        if self.prediction_id is None and not self.text:
            raise ValueError('send "prediction_id" of a logged prediction, or the "text"')
        _check_fields_unicode(self)
        return self


class ReviewItem(BaseModel):
    """A text waiting for (or given) a person's label."""

    id: str
    module: str
    version: int | None = None
    text: str
    prediction: Any = Field(None, description="The model's answer when it was queued, if any.")
    confidence: float | None = None
    reason: str = Field(description="low_confidence, unknown_input, teacher_unknown, fallback_failed: <why>, ...")
    status: Literal["pending", "resolved", "skipped"]
    answer: str | list[str] | None = Field(None, description="The reviewer's label (or labels, for a tagger).")
    resolved_by: str | None = None
    created_at: str
    resolved_at: str | None = None
    claimed_by: str | None = Field(None, description="The reviewer holding the item now (POST /v1/review/claim).")
    claimed_until: str | None = Field(None, description="When that claim lapses (ISO 8601 UTC).")


class ReviewResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, description="The correct label (classifier).", min_length=1)
    labels: list[str] | None = Field(None, description="The correct labels (tagger).", min_length=1)

    @model_validator(mode="after")
    def _target(self) -> ReviewResolveRequest:
        if (self.label is None) == (self.labels is None):
            raise ValueError('send the correct answer as "label" (classifier) or "labels" (tagger)')
        _check_fields_unicode(self)
        return self


class ModuleInfo(BaseModel):
    name: str
    version: int | None
    task: str | None = None
    tier: str | None = None
    labels: list[str] = []
    available: bool = Field(True, description="False when the module failed to load (its routes answer 503).")
    error: str | None = Field(None, description="Why it is unavailable.")
    versions: list[int] | None = None
    metrics: dict[str, Any] | None = None
