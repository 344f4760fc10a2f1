"""`serve_ray(...)`: the same REST app as `microgpt serve` (serving/app.py), as a Ray Serve deployment of N replicas.

    serve_ray("127.0.0.1", 8000, replicas=2)                     # a local Ray cluster, stopped on SIGINT/SIGTERM
    serve_ray("0.0.0.0", 8000, replicas=8, address="auto")       # the cluster `ray start --head` made

Each replica is `app_factory()` in a Ray actor: it takes its limits from the MICROGPT_SERVE_* variables and finds the
registry and store through MICROGPT_HOME / MICROGPT_REGISTRY / MICROGPT_STORE_URL, all sent in the deployment's
runtime_env — so a replica is one `microgpt serve` process behind a load balancer (Ray's proxy), with the same
routes, limits, errors and key checks. Every response names the replica that answered (`X-MicroGPT-Replica`).

Not multiplexed by module (`@serve.multiplexed`): every replica holds every promoted module, loaded at start-up and
swapped when its registry pointer moves (serving/models.py), because the module list, /readyz, the console and the
fast path read all of them; the module is named in the URL path, not in the `serve_multiplexed_model_id` header.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microgpt.errors import ConfigError, MissingExtraError

log = logging.getLogger(__name__)

APP = "microgpt"  # the Ray Serve application's name (`serve status` lists it)
REPLICA_HEADER = "x-microgpt-replica"
_PATHS = ("MICROGPT_HOME", "MICROGPT_REGISTRY", "MICROGPT_CACHE")  # made absolute: a replica's cwd is not ours
_LEVELS = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING", "info": "INFO", "debug": "DEBUG",
           "trace": "DEBUG"}  # fmt: skip


def import_serve() -> Any:
    """`ray.serve`, or the `pip install` that brings it (batch/ray_engine.py's `import_ray`, for serving: Ray Data is
    not imported, a second a start)."""
    try:
        from ray import serve
    except ModuleNotFoundError as err:
        raise MissingExtraError(
            f"--engine ray serves on Ray Serve, which is not installed (no module named {err.name!r})",
            hint="pip install 'microgpt[ray]' — or leave out --engine to serve on uvicorn",
        ) from err
    return serve


class ReplicaHeader:
    """Adds `X-MicroGPT-Replica: <Ray Serve replica id>` to every HTTP response, so a client (or a load test) can
    tell the replicas behind the one address apart."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)


def build_app() -> Any:
    """What each replica serves: `app_factory()` (run there, so the store and models are the replica's own)."""
    from ray import serve

    from microgpt.serving.app import app_factory

    app = app_factory()
    app.add_middleware(ReplicaHeader, replica=serve.get_replica_context().replica_id.unique_id)  # outermost
    return app


def replica_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The MICROGPT_* variables every replica gets (home, registry, store, limits, the fallback LLM), local paths
    made absolute."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k.startswith("MICROGPT_")}
    for key in _PATHS:
        if env.get(key) and "://" not in env[key]:
            env[key] = os.path.abspath(os.path.expanduser(env[key]))
    return env


def deployment(replicas: int, log_level: str = "warning") -> Any:
    """The bound Ray Serve application: `replicas` copies of `build_app`, one CPU each."""
    serve = import_serve()
    level = _LEVELS[log_level]
    ingress = serve.deployment(
        serve.ingress(build_app)(),
        name="MicroGPT",
        num_replicas=replicas,
        ray_actor_options={"num_cpus": 1, "runtime_env": {"env_vars": replica_env()}},
        logging_config={"log_level": level, "enable_access_log": level in ("INFO", "DEBUG")},
        # an idle replica stops at once (its lifespan flushes the prediction log); a busy one gets 10 s
        graceful_shutdown_wait_loop_s=0.5,
        graceful_shutdown_timeout_s=10,
    )
    return ingress.bind()


def serve_ray(
    host: str,
    port: int,
    replicas: int = 1,
    address: str | None = None,
    log_level: str = "warning",
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve on Ray until SIGINT or SIGTERM: on a local cluster of `replicas` CPUs (stopped afterwards), or on the
    cluster at `address` ("auto", "ray://HOST:10001"), where only this application is removed afterwards."""
    serve = import_serve()
    import ray

    if replicas < 1:
        raise ConfigError(
            f"replicas must be at least 1, got {replicas}", hint="microgpt serve --engine ray --replicas 2"
        )
    if log_level not in _LEVELS:
        raise ConfigError(f"unknown log level {log_level!r}", hint=f"use one of: {', '.join(_LEVELS)}")
    if not address:
        _check_port_free(host, port)
    level = _LEVELS[log_level]
    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False,
                              "logging_level": logging.getLevelName(level)}  # fmt: skip
    # "local": a new cluster even when `ray start` left one (or its address file) on this machine
    kwargs.update({"address": address} if address else {"address": "local", "num_cpus": replicas})
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address!r}: {err}",
            hint="start one with `ray start --head` (then --address auto), or leave out --address for a local one; "
            "a cluster with token authentication also needs RAY_AUTH_MODE=token here, and its token (RAY_AUTH_TOKEN "
            "or ~/.ray/auth_token)",
        ) from None
    logging.getLogger("ray.serve").setLevel(level)  # the driver's side of Serve: its INFO lines at --log-level
    running = _running_serve() if address else None
    with StopSignals() as stop:  # from here: Ray's own SIGTERM handler aborts the process with a stack dump
        deployed = False
        try:
            _check_running(serve, running, host, port)
            deployed = True
            _deploy(serve, host, port, replicas, log_level)
            if ready is not None:
                ready()
            stop.serving = True
            while not stop.event.wait(5.0):
                if APP not in serve.status().applications:
                    raise ConfigError(f"the Ray Serve application {APP!r} was removed from the cluster",
                                      hint="start it again: microgpt serve --engine ray")  # fmt: skip
        except _Stopped:  # SIGINT or SIGTERM while starting: stop what started, quietly
            pass
        finally:
            _stop(serve, ray, deployed=deployed, serve_is_ours=running is None and bool(address))


class _Stopped(BaseException):
    """A stop signal arrived while Ray Serve was starting (a BaseException: Ray's `except Exception` lets it by)."""


def _check_running(serve: Any, running: Any, host: str, port: int) -> None:
    """On a cluster where Serve runs already: its proxies keep the address they started on, and one application
    owns the route prefix "/"."""
    if running is None:
        return
    if (running.host, running.port) != (host, port):
        raise ConfigError(
            f"Ray Serve already runs on this cluster on {running.host}:{running.port}, not {host}:{port}",
            hint=f"pass --host {running.host} --port {running.port}, or restart Serve there (`serve shutdown`)",
        )
    if APP in serve.status().applications:
        raise ConfigError(
            f"the Ray cluster already serves an application named {APP!r}",
            hint="stop that `microgpt serve --engine ray` first (or `serve shutdown` on the cluster)",
        )


def _deploy(serve: Any, host: str, port: int, replicas: int, log_level: str) -> None:
    serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": _LEVELS[log_level]})
    try:
        serve.run(deployment(replicas, log_level), name=APP, route_prefix="/", blocking=False)
    except RuntimeError as err:  # a replica that cannot start (it raised in app_factory, several times)
        raise ConfigError(
            f"the Ray Serve deployment failed to start: {err}",
            hint="the replica's error is above (or in the Ray logs, /tmp/ray/session_latest/logs/serve/); "
            "`microgpt serve` (uvicorn) on the same home shows it directly",
        ) from None


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}",
                              hint="stop what holds the port, or pick another with --port") from None  # fmt: skip


def _running_serve() -> Any:
    """The HTTP options of the Serve instance already running on the cluster, or None (no public way to read them)."""
    from ray.serve.context import _get_global_client

    client = _get_global_client(raise_if_no_controller_running=False)
    return None if client is None else client.http_config


class StopSignals:
    """SIGINT and SIGTERM: while starting, interrupt the start (`_Stopped`); while serving, set `event`; a second
    one interrupts the shutdown (KeyboardInterrupt). The previous handlers come back on exit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.serving = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *_: object) -> None:
        for sig, old in self._previous.items():  # None: a handler not set from Python (Ray's): the default then
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _handle(self, signum: int, _: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        if not self.serving:
            raise _Stopped


def _stop(serve: Any, ray: Any, deployed: bool, serve_is_ours: bool) -> None:
    """Our application first (its replicas flush their prediction logs as they stop); Serve too when this command
    started it on someone else's cluster (so its proxies free the port); then this driver — and a local cluster
    with it (Serve's controller and proxy there need no goodbye)."""
    try:
        if deployed:
            serve.delete(APP)
        if serve_is_ours:
            serve.shutdown()
    except Exception as err:  # the cluster may be gone already; Ray's shutdown still runs
        log.warning("Ray Serve did not shut down cleanly: %s", err)
    finally:
        ray.shutdown()
