"""The teacher: labels texts with the fallback LLM — the prompt (labels and a few examples) and a robust parser.

    teacher = LabelTeacher(LLMClient(FallbackConfig.from_env()), ["billing", "refund"], examples={...})
    teacher.label("money back please").label      # 'refund' (None when the model says unknown or names no label)

Re-exported from `microgpt.routing.llm`, where the client lives.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from microgpt.errors import ConfigError
from microgpt.routing.llm import ChatResult, FallbackError, LLMClient, Message

# ---- labelling -------------------------------------------------------------------------------------------------
UNKNOWN_ANSWERS = ("unknown", "none", "none of the above", "n/a", "na", "no label", "no match", "not sure", "other")
# "Label: x", "The answer is x", "category = x" — only before ':', '=' or 'is', so a label like 'class_a' survives
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?(?:label|answer|category|class|intent|output)\s*(?::|=|\bis\b)\s*")
_PUNCT = re.compile(r"[^\w/\-\s]")
_EDGES = "\"'`*_.,;:!?()[]{}<>“”‘’ \t"


def _norm(s: str) -> str:
    """Lower case, with `_`, `-`, `/` and runs of spaces as one space: 'Card_Arrival' == 'card arrival'."""
    return " ".join(re.sub(r"[_\-/\s]+", " ", s.lower()).split())


def _clean(line: str) -> str:
    return _norm(_PREFIX.sub("", line.strip().strip(_EDGES).lower()).strip(_EDGES))


def parse_label(raw: str, labels: Sequence[str]) -> str | None:
    """The label a free-text answer names, or None for 'unknown' and for answers naming no label.

    Tolerates quotes, markdown, trailing punctuation, "Label:" prefixes, case, `_`/space differences and small typos
    (difflib ratio ≥ 0.85); a longer answer counts when it names exactly one label. A label literally called
    'unknown' or 'other' is matched as a label first.
    """
    by_norm = {_norm(label): label for label in labels}
    unknown = {_norm(x) for x in UNKNOWN_ANSWERS} - set(by_norm)
    first = next((c for c in map(_clean, raw.splitlines()) if c), "")
    for candidate in (_norm(raw.strip().strip(_EDGES)), _clean(raw), first):
        if candidate in by_norm:
            return by_norm[candidate]
    if not first or first in unknown or first.split(" ")[0] in unknown:
        return None
    close = difflib.get_close_matches(first, list(by_norm), n=1, cutoff=0.85)
    if close:
        return by_norm[close[0]]
    # a sentence ("I think it is billing."): accept it when it names exactly one label (the longest of nested ones)
    words = " " + _norm(_PUNCT.sub(" ", raw.lower())) + " "
    named = [key for key in by_norm if f" {key} " in words]
    named = [key for key in named if not any(key != other and f" {key} " in f" {other} " for other in named)]
    return by_norm[named[0]] if len(named) == 1 else None


@dataclass(frozen=True)
class TeacherAnswer:
    """The teacher's label for one text (None: it said unknown, or named no label), its raw words and the call."""

    label: str | None
    raw: str
    result: ChatResult


class LabelTeacher:
    """Labels texts with the fallback model: a prompt listing the labels (and a few examples of each).

    teacher = LabelTeacher(client, ["billing", "refund"], examples={"billing": ["charged twice"]})
    teacher.label("money back please").label            # 'refund' (None when the model says unknown)
    teacher.label_many(texts, on_progress)              # [TeacherAnswer | FallbackError], in input order
    """

    def __init__(
        self,
        client: LLMClient,
        labels: Sequence[str],
        examples: Mapping[str, Sequence[str]] | None = None,
        per_label: int = 2,
        example_chars: int = 160,  # long examples cost tokens on every call and teach little more
        text_chars: int = 2000,  # the text to label is cut here: a label rarely needs more, the budget does
    ) -> None:
        if not labels:
            raise ConfigError("the teacher needs the list of labels", hint="pass the module's labels_ or --labels")
        self.client = client
        self.labels = list(dict.fromkeys(labels))
        self.examples = {k: list(v) for k, v in (examples or {}).items()}
        self.per_label = per_label
        self.example_chars = example_chars
        self.text_chars = text_chars
        self._system = self._system_prompt()

    def _system_prompt(self) -> str:
        lines = [
            "You label short texts for a text classifier.",
            "Answer with exactly one label from this list, written exactly as listed, and nothing else.",
            'If no label fits, answer "unknown".',
            "",
            "Labels:",
            *(f"- {label}" for label in self.labels),
        ]
        shots = [
            (_shorten(text, self.example_chars), label)
            for label in self.labels
            for text in self.examples.get(label, [])[: self.per_label]
        ]
        if shots:
            lines += ["", "Examples:", *(f"Text: {text}\nLabel: {label}" for text, label in shots)]
        return "\n".join(lines)

    def messages(self, text: str) -> list[Message]:
        return [
            {"role": "system", "content": self._system},
            {"role": "user", "content": f"Text: {_shorten(text, self.text_chars)}\nLabel:"},
        ]

    def parse(self, raw: str) -> str | None:
        return parse_label(raw, self.labels)

    def label(self, text: str) -> TeacherAnswer:
        """Ask once (with the client's retries); raises a `FallbackError` when no answer came."""
        result = self.client.chat(self.messages(text))
        return TeacherAnswer(label=self.parse(result.text), raw=result.text, result=result)

    def iter_label(self, texts: Iterable[str], workers: int = 1) -> Iterator[tuple[int, TeacherAnswer | FallbackError]]:
        """(index, answer or the error) for each text, in input order, as they finish; `workers` calls at a time."""

        def one(text: str) -> TeacherAnswer | FallbackError:
            try:
                return self.label(text)
            except FallbackError as err:
                return err

        if workers <= 1:
            for i, text in enumerate(texts):
                yield i, one(text)
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="microgpt-teacher")
        try:
            futures = [pool.submit(one, text) for text in texts]
            for i, future in enumerate(futures):
                yield i, future.result()
        finally:  # stopped early (Ctrl-C, an error): calls not yet started are dropped, not paid for
            pool.shutdown(wait=True, cancel_futures=True)

    def label_many(
        self,
        texts: Sequence[str],
        on_progress: Callable[[str, int, int], None] | None = None,
        workers: int = 1,
    ) -> list[TeacherAnswer | FallbackError]:
        """Label every text; a failed call is returned as its `FallbackError` in place, so nothing is lost."""
        out: list[TeacherAnswer | FallbackError] = []
        for done, (_, answer) in enumerate(self.iter_label(texts, workers), start=1):
            out.append(answer)
            if on_progress is not None:
                on_progress("label", done, len(texts))
        return out


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
