"""The escalation target: an OpenAI-compatible chat-completions client with timeouts, retries and a spend budget.

    config = FallbackConfig.from_env(budget_usd=2.0)          # MICROGPT_LLM_BASE_URL, MICROGPT_LLM_MODEL, ...
    client = LLMClient(config)                                # client.spent_usd, .calls, .tokens_in, .tokens_out
    client.chat([{"role": "user", "content": "..."}])         # ChatResult(text, tokens, cost); the teacher that
                                                              # labels with it is routing.teacher.LabelTeacher

Errors (all `FallbackError`, a `MicroGPTError`; `err.reason` is a short tag for the review queue,
e.g. ``f"fallback_failed: {err.reason}"``):

FallbackError
├── FallbackTimeout       no answer within timeout_s, after every retry            reason 'timeout'
├── FallbackUnreachable   the connection failed (server down, wrong URL)           reason 'unreachable'
├── FallbackHTTPError     an HTTP error status (5xx/429 after retries, other 4xx)  reason 'http <status>'
├── FallbackMalformed     a 200 answer that is not chat-completions JSON           reason 'malformed'
└── BudgetExceeded        raised before sending: the call could pass budget_usd    reason 'budget'
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from microgpt.errors import ConfigError, MicroGPTError

__all__ = [
    "BudgetExceeded",
    "ChatResult",
    "FallbackConfig",
    "FallbackError",
    "FallbackHTTPError",
    "FallbackMalformed",
    "FallbackTimeout",
    "FallbackUnreachable",
    "LLMClient",
    "estimate_tokens",
]

log = logging.getLogger(__name__)

ENV = {
    "base_url": "MICROGPT_LLM_BASE_URL",
    "model": "MICROGPT_LLM_MODEL",
    "api_key": "MICROGPT_LLM_API_KEY",
    "budget_usd": "MICROGPT_LLM_BUDGET_USD",
    "price_in_per_1m": "MICROGPT_LLM_PRICE_IN_PER_1M",
    "price_out_per_1m": "MICROGPT_LLM_PRICE_OUT_PER_1M",
}
# The first names, in USD per 1,000 tokens: still read (converted), with a warning to move to the per-1M names.
DEPRECATED_ENV = {"price_in_per_1k": "MICROGPT_LLM_PRICE_IN", "price_out_per_1k": "MICROGPT_LLM_PRICE_OUT"}
Message = dict[str, str]


# ---- errors ----------------------------------------------------------------------------------------------------
class FallbackError(MicroGPTError, RuntimeError):
    """The fallback model gave no usable answer; `reason` is a short tag ('timeout', 'http 500', ...)."""

    reason = "error"


class FallbackTimeout(FallbackError):
    reason = "timeout"


class FallbackUnreachable(FallbackError):
    reason = "unreachable"


class FallbackHTTPError(FallbackError):
    def __init__(
        self, message: str, hint: str | None = None, status: int = 0, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.reason = f"http {status}"
        self.retry_after = retry_after  # seconds, from a 429/503's Retry-After header


class FallbackMalformed(FallbackError):
    reason = "malformed"


class BudgetExceeded(FallbackError):
    reason = "budget"


# ---- configuration ---------------------------------------------------------------------------------------------
class FallbackConfig(BaseModel):
    """Where the large model is and what it may cost; `from_env()` fills it from MICROGPT_LLM_* variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str  # up to the API version, e.g. http://127.0.0.1:8080/v1 (…/chat/completions is appended)
    model: str
    api_key: SecretStr | None = None  # sent as `Authorization: Bearer`; local servers usually need none
    timeout_s: float = Field(30.0, gt=0)  # a small CPU-hosted model can take seconds; a hung server must not block
    retries: int = Field(2, ge=0)  # extra attempts after a timeout, connection error, 429 or 5xx
    backoff_s: float = Field(0.5, ge=0)  # wait before retry k is backoff_s * 2**k
    budget_usd: float | None = Field(None, ge=0)  # None: no limit; else no call starts that could pass it
    price_in_per_1m: float = Field(0.0, ge=0)  # USD per 1M prompt tokens, the unit of evaluation.cost.PRICES (0: local)
    price_out_per_1m: float = Field(0.0, ge=0)  # USD per 1M completion tokens
    max_tokens: int = Field(16, ge=1)  # a label is a few tokens; also the output side of the budget estimate
    temperature: float = Field(0.0, ge=0)  # labelling wants the most likely answer, not variety

    @model_validator(mode="before")
    @classmethod
    def _per_1k(cls, values: Any) -> Any:
        """`price_in_per_1k` / `price_out_per_1k` (the old unit) are accepted and converted to per 1M."""
        if isinstance(values, dict) and ("price_in_per_1k" in values or "price_out_per_1k" in values):
            values = dict(values)
            for side in ("in", "out"):
                old = values.pop(f"price_{side}_per_1k", None)
                if old is not None:
                    values.setdefault(f"price_{side}_per_1m", float(old) * 1000)
        return values

    @property
    def price_in_per_1k(self) -> float:
        return self.price_in_per_1m / 1000

    @property
    def price_out_per_1k(self) -> float:
        return self.price_out_per_1m / 1000

    @classmethod
    def from_env(cls, **overrides: Any) -> FallbackConfig:
        """Settings from MICROGPT_LLM_* environment variables; `overrides` that are not None win."""
        values: dict[str, Any] = {}
        for field, var in ENV.items():
            raw = os.environ.get(var)
            if raw is not None and raw.strip():
                values[field] = raw.strip()
        for field, var in DEPRECATED_ENV.items():
            raw = os.environ.get(var)
            new = ENV[field.replace("_per_1k", "_per_1m")]
            if raw is not None and raw.strip() and new not in os.environ:
                log.warning("%s (USD per 1,000 tokens) is deprecated: set %s (USD per 1M tokens) instead", var, new)
                values[field] = raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        missing = [ENV[f] for f in ("base_url", "model") if not values.get(f)]
        if missing:
            raise ConfigError(
                f"the fallback model is not configured (missing {', '.join(missing)})",
                hint="set MICROGPT_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) and MICROGPT_LLM_MODEL; "
                "optionally MICROGPT_LLM_API_KEY, MICROGPT_LLM_BUDGET_USD, MICROGPT_LLM_PRICE_IN_PER_1M/_OUT_PER_1M "
                "(USD per 1M tokens)",
            )
        return cls.validated(values)

    @classmethod
    def validated(cls, values: Mapping[str, Any]) -> FallbackConfig:
        """`FallbackConfig(**values)`, with pydantic's errors turned into a ConfigError that names the fix."""
        try:
            config = cls(**values)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, list(cls.model_fields), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(cls.model_fields)}"
                raise ConfigError(f"unknown fallback setting {key!r}", hint=hint) from None
            var = f" ({ENV[key]})" if key in ENV else ""
            raise ConfigError(
                f"invalid fallback setting {key!r}{var}: {first['msg']} (got {first.get('input')!r})",
                hint="see microgpt.routing.llm.FallbackConfig",
            ) from None
        if not config.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"fallback base URL {config.base_url!r} is not an http(s) URL",
                hint="e.g. MICROGPT_LLM_BASE_URL=http://127.0.0.1:8080/v1",
            )
        return config


# ---- the client ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChatResult:
    """One answer: its text, token counts (from the server's `usage`, else estimated), cost and wall time."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float  # the whole call, retries and back-off included: what the caller waited
    estimated: bool = False  # True: the server sent no `usage`, token counts are length/4 estimates
    attempts: int = 1
    model: str = ""


def estimate_tokens(text: str) -> int:
    """About four characters a token for English text (used for budgets, and when a server reports no usage)."""
    return max(1, math.ceil(len(text) / 4))


class LLMClient:
    """`LLMClient(config).chat(messages) -> ChatResult`; thread-safe, one connection pool, shared spend accounting."""

    def __init__(self, config: FallbackConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if config.api_key is not None and config.api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(config.timeout_s), transport=transport)
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0  # estimated cost of the calls in flight, so concurrent calls cannot overshoot together
        self._calls = 0
        self._failures = 0
        self._tokens_in = 0
        self._tokens_out = 0

    # accounting, read under the lock so a report never sees a half-updated call
    @property
    def spent_usd(self) -> float:
        with self._lock:
            return self._spent

    @property
    def calls(self) -> int:
        """Calls that returned an answer (failed calls are counted in `failures`)."""
        with self._lock:
            return self._calls

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    @property
    def tokens_in(self) -> int:
        with self._lock:
            return self._tokens_in

    @property
    def tokens_out(self) -> int:
        with self._lock:
            return self._tokens_out

    def usage(self) -> dict[str, float | int]:
        """calls, failures, tokens_in, tokens_out and spent_usd, read together."""
        with self._lock:
            return {"calls": self._calls, "failures": self._failures, "tokens_in": self._tokens_in,
                    "tokens_out": self._tokens_out, "spent_usd": self._spent}  # fmt: skip

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        c = self.config
        return (prompt_tokens * c.price_in_per_1m + completion_tokens * c.price_out_per_1m) / 1e6

    def estimate_cost(self, messages: Sequence[Message], max_tokens: int | None = None) -> float:
        """The most this call should cost: the prompt at length/4 tokens plus `max_tokens` of output."""
        prompt = estimate_tokens("".join(m.get("content", "") for m in messages))
        return self.cost(prompt, max_tokens or self.config.max_tokens)

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> ChatResult:
        """Send `messages` ([{"role", "content"}]) and return the first choice; raises a `FallbackError`."""
        c = self.config
        estimate = self.estimate_cost(messages, max_tokens)
        with self._lock:
            if c.budget_usd is not None and self._spent + self._reserved + estimate > c.budget_usd:
                self._failures += 1
                raise BudgetExceeded(
                    f"the fallback budget of ${c.budget_usd:.4f} would be passed: ${self._spent:.4f} spent, "
                    f"this call could cost ${estimate:.4f}",
                    hint="raise it (MICROGPT_LLM_BUDGET_USD or --budget-usd); the items stay queued for review",
                )
            self._reserved += estimate
        start = time.perf_counter()
        try:
            body, attempts = self._post(messages, max_tokens or c.max_tokens)
            result = self._result(body, messages, attempts, start)
        except BaseException:
            with self._lock:
                self._reserved -= estimate
                self._failures += 1
            raise
        with self._lock:
            self._reserved -= estimate
            self._spent += result.cost_usd
            self._calls += 1
            self._tokens_in += result.prompt_tokens
            self._tokens_out += result.completion_tokens
        return result

    def _post(self, messages: Sequence[Message], max_tokens: int) -> tuple[Any, int]:
        c = self.config
        payload = {"model": c.model, "messages": list(messages), "max_tokens": max_tokens, "temperature": c.temperature}
        last: FallbackError | None = None
        for attempt in range(c.retries + 1):
            if attempt:
                wait = c.backoff_s * 2 ** (attempt - 1)
                if isinstance(last, FallbackHTTPError) and last.retry_after is not None:
                    wait = max(wait, min(last.retry_after, 60.0))
                time.sleep(wait)
            try:
                response = self._http.post(self.url, json=payload)
            except httpx.TimeoutException:
                last = FallbackTimeout(
                    f"{c.model} at {c.base_url} did not answer within {c.timeout_s:g}s ({attempt + 1} attempt(s))",
                    hint="raise timeout_s, or check the server's load; the item stays queued for review",
                )
                log.warning("fallback timeout (attempt %d of %d)", attempt + 1, c.retries + 1)
                continue
            except httpx.TransportError as err:
                last = FallbackUnreachable(
                    f"cannot reach {self.url}: {err}",
                    hint="is the server running? check MICROGPT_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1)",
                )
                log.warning("fallback unreachable (attempt %d of %d): %s", attempt + 1, c.retries + 1, err)
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                last = self._http_error(response, attempt + 1)
                log.warning("fallback HTTP %d (attempt %d of %d)", status, attempt + 1, c.retries + 1)
                continue
            if status >= 400:
                raise self._http_error(response, attempt + 1)
            try:
                return response.json(), attempt + 1
            except ValueError:
                raise FallbackMalformed(
                    f"{self.url} answered HTTP {status} with a body that is not JSON: {response.text[:200]!r}",
                    hint="is base_url an OpenAI-compatible API (it usually ends in /v1)?",
                ) from None
        assert last is not None  # the loop ran at least once and only `continue`s after setting it
        raise last

    def _http_error(self, response: httpx.Response, attempts: int) -> FallbackHTTPError:
        status = response.status_code
        detail = response.text[:200].strip()
        if status in (401, 403):
            hint = "check the API key (MICROGPT_LLM_API_KEY or --api-key)"
        elif status == 404:
            hint = f"check the base URL ({self.config.base_url}; it usually ends in /v1) and the model name"
        elif status == 429:
            hint = "the provider is rate limiting: retry later, or raise retries/backoff_s"
        elif status >= 500:
            hint = "the fallback server failed; the item stays queued for review"
        else:
            hint = "the request was refused as sent; check the model name and max_tokens"
        after = response.headers.get("retry-after", "")
        return FallbackHTTPError(
            f"{self.url} answered HTTP {status} after {attempts} attempt(s): {detail!r}",
            hint=hint,
            status=status,
            retry_after=float(after) if after.replace(".", "", 1).isdigit() else None,
        )

    def _result(self, body: Any, messages: Sequence[Message], attempts: int, start: float) -> ChatResult:
        try:
            text = body["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
        except (KeyError, IndexError, TypeError) as err:
            raise FallbackMalformed(
                f"{self.url} answered without choices[0].message.content ({type(err).__name__}: {err}): "
                f"{str(body)[:200]!r}",
                hint="is base_url an OpenAI-compatible chat-completions API?",
            ) from None
        usage = body.get("usage") if isinstance(body, dict) else None
        try:
            prompt_tokens = int(usage["prompt_tokens"])  # type: ignore[index]
            completion_tokens = int(usage["completion_tokens"])  # type: ignore[index]
            estimated = False
        except (KeyError, TypeError, ValueError):
            prompt_tokens = estimate_tokens("".join(m.get("content", "") for m in messages))
            completion_tokens = estimate_tokens(text)
            estimated = True
        return ChatResult(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self.cost(prompt_tokens, completion_tokens),
            latency_ms=(time.perf_counter() - start) * 1000,
            estimated=estimated,
            attempts=attempts,
            model=str(body.get("model") or self.config.model),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
