"""The modules a server holds: the current version of each, loaded once and swapped when its registry pointer moves;
and `HTTPError`, an error with an HTTP status that routes raise.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from microgpt.errors import MicroGPTError
from microgpt.store.registry import Registry, RegistryError

log = logging.getLogger(__name__)


class HTTPError(MicroGPTError):
    """An error with an HTTP status, raised inside routes."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class Models:
    """The loaded current version of each module, swapped when its registry pointer moves."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._loaded: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple[int, Any]:
        try:
            version = self.registry.current(name)
        except RegistryError:
            raise HTTPError(
                404,
                f"no module named {name!r}; available: {', '.join(self.registry.names()) or 'none'}",
                "add one with `microgpt modules add DIR --name NAME`",
            ) from None
        if version is None:
            raise HTTPError(404, f"module {name!r} has no promoted version", f"microgpt modules promote {name} VERSION")
        held = self._loaded.get(name)
        if held is not None and held[0] == version:
            return held
        with self._lock:
            held = self._loaded.get(name)
            if held is None or held[0] != version:
                held = (version, self.registry.load(name, version))
                self._loaded[name] = held
                log.info("loaded %s v%d", name, version)
        return held

    def load_all(self) -> None:
        for name in self.registry.names():
            if self.registry.current(name) is not None:
                self.get(name)
