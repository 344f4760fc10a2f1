"""Chaos: every corrupted-module fixture (truncated, swapped, NaN, symlinked, absolute paths, FIFOs, emptied
manifest) is refused with a `ModuleFormatError` by `load` and `modules add`, and served as one unavailable module
(503) next to healthy ones — never a hang, a raw traceback, or a server that does not start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import microgpt
from microgpt.errors import ModuleFormatError
from microgpt.store.registry import Registry, RegistryError
from tests.chaos.corrupt import BROKEN, FAILS_TO_PREDICT, UNLISTED, damaged_copy
from tests.serving.test_server import Server

pytestmark = pytest.mark.chaos

TEXTS = ["charged twice", "invoice wrong", "parcel late", "where is my parcel", "money back", "refund me"]
LABELS = ["billing", "billing", "shipping", "shipping", "refund", "refund"]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chaos-good") / "router"
    microgpt.Classifier("nano").fit(TEXTS, LABELS).save(path)
    return path


def bounded(fn, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """Run `fn` in a thread and fail (not hang) if it takes longer than `seconds` — /dev/zero would."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:
            out["error"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} hung for {seconds} s"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out.get("value")


@pytest.mark.parametrize("damage", sorted(BROKEN))
def test_issue_17_a_corrupt_module_is_refused_by_load_and_add(damage, good, tmp_path):
    module = damaged_copy(good, tmp_path / "m", BROKEN[damage])
    with pytest.raises(ModuleFormatError) as err:
        bounded(lambda: microgpt.load(module))
    assert err.value.hint
    registry = Registry(tmp_path / "home")
    with pytest.raises((ModuleFormatError, RegistryError)):
        bounded(lambda: registry.add(module, "router"))
    folder = registry.root / "router"
    assert not folder.exists() or not [p for p in folder.iterdir() if p.name.isdigit() or p.name.startswith(".add")]


@pytest.mark.parametrize("damage", sorted(FAILS_TO_PREDICT))
def test_issue_17_a_module_that_loads_but_cannot_predict_is_refused_by_add(damage, good, tmp_path):
    module = damaged_copy(good, tmp_path / "m", FAILS_TO_PREDICT[damage])
    microgpt.load(module)
    registry = Registry(tmp_path / "home")
    with pytest.raises(ModuleFormatError, match="does not load"):
        registry.add(module, "router")
    assert not [p for p in (registry.root / "router").iterdir() if p.name.isdigit()]


@pytest.mark.parametrize("damage", sorted(UNLISTED))
def test_issue_17_add_never_follows_or_copies_links_and_special_files(damage, good, tmp_path):
    module = damaged_copy(good, tmp_path / "m", UNLISTED[damage])
    assert bounded(lambda: microgpt.load(module)).labels_  # its own files are intact
    registry = Registry(tmp_path / "home")
    with pytest.raises(ModuleFormatError, match="refusing to add"):
        bounded(lambda: registry.add(module, "router"))
    assert not list((tmp_path / "home").rglob("passwd")) and not list((tmp_path / "home").rglob("zeros"))


@pytest.fixture(scope="module")
def chaos_server(tmp_path_factory, good) -> Iterator[tuple[Server, list[str]]]:
    """One server whose registry holds the good module and every broken one (placed by hand, as a disk fault
    or an operator would leave them: `add` itself refuses them)."""
    home = tmp_path_factory.mktemp("chaos-home")
    registry = Registry(home)
    registry.add(good, "router")
    names = []
    for damage, fn in sorted({**BROKEN, **FAILS_TO_PREDICT}.items()):
        name = damage.replace("_", "-")
        folder = registry.root / name
        folder.mkdir(parents=True)
        damaged_copy(good, folder / "1", fn)
        (folder / "CURRENT").write_text("1\n")
        names.append(name)
    server = Server(home)
    yield server, names
    server.stop()


def test_issue_17_a_server_with_every_corrupt_module_still_serves_the_good_one(chaos_server):
    server, names = chaos_server
    assert httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "refund me"}).status_code == 200
    for name in names:
        r = httpx.post(f"{server.url}/v1/modules/{name}/predict", json={"text": "refund me"}, timeout=20)
        assert r.status_code == 503, (name, r.text)
        assert {"error", "hint"} <= set(r.json())
    listed = {m["name"]: m for m in httpx.get(f"{server.url}/v1/modules").json()}
    assert listed["router"]["available"]
    assert all(not listed[n]["available"] and listed[n]["error"] for n in names)
    assert sorted(httpx.get(f"{server.url}/readyz").json()["unavailable"]) == sorted(names)
