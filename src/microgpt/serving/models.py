"""The modules a server holds: the current version of each, loaded once and swapped when its registry pointer moves;
and `HTTPError`, an error with an HTTP status that routes raise.

A module that fails to load (corrupt weights, a garbage CURRENT pointer) is marked unavailable — its routes answer
503 with the reason — and never takes the other modules or the server down. It is retried when its pointer moves,
or every `retry_s` seconds (so a repaired module comes back without a restart).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from microgpt.errors import ConfigError, DataError, MicroGPTError
from microgpt.module import load_errors
from microgpt.store.registry import Registry, RegistryError, smoke_test

log = logging.getLogger(__name__)


class HTTPError(MicroGPTError):
    """An error with an HTTP status, raised inside routes."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


def error_payload(err: MicroGPTError) -> tuple[int, dict[str, Any]]:
    """(status, body) of the answer to one of our errors: its own status, else 422 for bad data and 400 for the rest."""
    status = getattr(err, "status", 422 if isinstance(err, DataError) else 400)
    return status, {"error": err.message, "hint": err.hint}


def bug_payload(err: Exception) -> dict[str, Any]:
    """The body of a 500: which exception, and where the details are (never the traceback itself)."""
    return {"error": f"internal error ({type(err).__name__})", "hint": "this is a bug: the server log has the details"}


class Models:
    """The loaded current version of each module, swapped when its registry pointer moves."""

    def __init__(self, registry: Registry, retry_s: float = 10.0) -> None:
        self.registry = registry
        self.retry_s = retry_s
        self._loaded: dict[str, tuple[int, Any]] = {}
        self._failed: dict[str, tuple[int | None, float, str]] = {}  # name -> (version, when, why)
        self._lock = threading.Lock()

    def known(self, name: str) -> bool:
        """Whether `name` is a module this server has loaded or tried to (a bounded set: metrics labels use it)."""
        return name in self._loaded or name in self._failed

    def failures(self) -> dict[str, tuple[int | None, str]]:
        """Modules that are unavailable now: name -> (version, why)."""
        return {name: (v, why) for name, (v, _, why) in self._failed.items()}

    def get(self, name: str) -> tuple[int, Any]:
        try:
            version = self.registry.current(name)
        except (RegistryError, ConfigError):
            raise HTTPError(
                404,
                f"no module named {name!r}; available: {', '.join(self.registry.names()) or 'none'}",
                "add one with `microgpt modules add DIR --name NAME`",
            ) from None
        except MicroGPTError as err:  # a corrupt CURRENT pointer: this module only is down
            self._fail(name, None, err)
            raise self._unavailable(name) from None
        if version is None:
            raise HTTPError(404, f"module {name!r} has no promoted version", f"microgpt modules promote {name} VERSION")
        held = self._loaded.get(name)
        if held is not None and held[0] == version:
            return held
        failed = self._failed.get(name)
        if failed is not None and failed[0] == version and time.monotonic() - failed[1] < self.retry_s:
            raise self._unavailable(name)
        with self._lock:
            held = self._loaded.get(name)
            if held is None or held[0] != version:
                try:
                    model = self.registry.load(name, version)
                    if getattr(model, "task", None) != "reply":  # a draft takes too long to write at start-up
                        with load_errors(self.registry.path(name, version)):
                            smoke_test(model)  # loads but cannot predict (swapped vocabulary): 503, not 500s
                    held = (version, model)
                except Exception as err:  # whatever a broken module raises, it is this module's problem alone
                    self._fail(name, version, err)
                    raise self._unavailable(name) from None
                self._loaded[name] = held
                self._failed.pop(name, None)
                log.info("loaded %s v%d", name, version)
        return held

    def load_all(self) -> None:
        """Load every promoted module; one that fails is marked unavailable and the rest still load."""
        for name in self.registry.names():
            try:
                self.get(name)
            except HTTPError:
                continue

    def _fail(self, name: str, version: int | None, err: Exception) -> None:
        why = err.message if isinstance(err, MicroGPTError) else f"{type(err).__name__}: {err}"
        if self._failed.get(name, (None, 0.0, ""))[2] != why:
            log.error("module %s v%s is unavailable: %s", name, version, why)
        self._failed[name] = (version, time.monotonic(), why)
        self._loaded.pop(name, None)  # never keep answering with a version the pointer has left

    def _unavailable(self, name: str) -> HTTPError:
        version, _, why = self._failed[name]
        at = f" v{version}" if version is not None else ""
        return HTTPError(
            503,
            f"module {name!r}{at} is unavailable: {why}",
            f"fix or replace it (microgpt modules promote {name} VERSION, or rollback); the other modules still serve",
        )
