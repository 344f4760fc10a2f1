"""Typed request and response bodies of the REST API (they also document it in /docs)."""

from __future__ import annotations

import datetime
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class Prediction(BaseModel):
    request_id: str
    label: str | None = None
    labels: list[str] | None = None
    confidence: float | None = None
    confidences: list[float] | None = None
    decision: str | None = Field(None, description="Classifiers: answer, escalate or queue (the module's policy).")
    reason: str | None = Field(None, description="Why it is not answered: low_confidence or unknown_input.")
    unknown: bool | None = Field(None, description="Classifiers: the input is unlike anything in training.")
    answer: str | None = Field(None, description="The fallback model's label, when it answered an escalation.")
    answered_by: str | None = Field(None, description="'fallback' when the large model answered.")
    review_id: str | None = Field(None, description="The review-queue item, when the text waits for a person.")
    fields: dict[str, Any] | None = Field(None, description="Extractors: normalised field values (None if absent).")
    spans: list[dict[str, Any]] | None = Field(
        None, description="Extractors: label, start, end, text, confidence and normalised value of each span."
    )
    reply: str | None = Field(None, description="Repliers: the draft, placeholders filled from the fields given.")
    intent: str | None = Field(None, description="Repliers: the intent the draft was written for.")
    unfilled: list[str] | None = Field(None, description="Repliers: placeholders left visible (no field given).")
    tokens: int | None = Field(None, description="Repliers: tokens written.")


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
