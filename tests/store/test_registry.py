"""The registry: numbered versions, atomic promote/rollback, broken modules never promoted, concurrent adds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import microgpt
from microgpt import Classifier, ConfigError
from microgpt.store.registry import Registry, RegistryError


@pytest.fixture(scope="module")
def modules(tmp_path_factory, helpdesk_split):
    """Two different trained nano modules on disk."""
    root = tmp_path_factory.mktemp("modules")
    train, _ = helpdesk_split
    Classifier("nano", nano={"c": 1.0}).fit(train).save(root / "a")
    Classifier("nano", nano={"c": 0.05}).fit(train).save(root / "b")
    return root / "a", root / "b"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_HOME", str(tmp_path / "home"))
    return Registry()


def test_first_add_is_promoted_later_ones_wait(registry, modules):
    a, b = modules
    assert registry.add(a, "router") == 1
    assert registry.current("router") == 1
    assert registry.add(b, "router") == 2
    assert registry.current("router") == 1
    infos = registry.versions("router")
    assert [(v.version, v.current, v.tier) for v in infos] == [(1, True, "nano"), (2, False, "nano")]
    assert registry.names() == ["router"]
    assert registry.path("router") == registry.root / "router" / "1"


def test_promote_then_rollback_restores_the_old_answers_exactly(registry, modules, helpdesk_split):
    a, b = modules
    texts = helpdesk_split[1].texts
    registry.add(a, "router")
    registry.add(b, "router")
    old = registry.load("router").predict_proba(texts)
    registry.promote("router", 2)
    new = registry.load("router").predict_proba(texts)
    assert not np.allclose(old, new)
    assert registry.rollback("router") == 1
    assert np.array_equal(registry.load("router").predict_proba(texts), old)
    with pytest.raises(RegistryError, match="no earlier promoted version"):
        registry.rollback("router")


def test_a_module_that_fails_to_load_is_never_promoted(registry, modules):
    a, b = modules
    registry.add(a, "router")
    registry.add(b, "router")
    (registry.root / "router" / "2" / "nano.safetensors").write_bytes(b"corrupted after add")
    with pytest.raises(RegistryError, match="refusing to promote router v2") as err:
        registry.promote("router", 2)
    assert "retrain" in err.value.hint
    assert registry.current("router") == 1


def test_corrupt_module_is_refused_at_add(registry, modules, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(modules[0], broken)
    (broken / "nano.json").write_text("{}")
    with pytest.raises(microgpt.ModuleFormatError, match="checksum"):
        registry.add(broken, "router")
    assert registry.names() == [] or registry.versions("router") == []


def test_remove_refuses_the_current_version(registry, modules):
    a, b = modules
    registry.add(a, "router")
    registry.add(b, "router")
    with pytest.raises(RegistryError, match="is the current version"):
        registry.remove("router", 1)
    registry.remove("router", 2)
    assert [v.version for v in registry.versions("router")] == [1]
    assert registry.add(b, "router") == 2  # numbers are reused only after removal of the highest


def test_unknown_names_and_versions_list_what_exists(registry, modules):
    registry.add(modules[0], "router")
    with pytest.raises(RegistryError, match=r"no module named 'ruoter' \(modules: router\)"):
        registry.current("ruoter")
    with pytest.raises(RegistryError, match=r"no version 7 \(versions: 1\)"):
        registry.path("router", 7)
    with pytest.raises(ConfigError, match="invalid module name"):
        registry.add(modules[0], "Bad Name!")


def test_concurrent_adds_get_distinct_versions(registry, modules):
    registry.add(modules[0], "router")
    results: list[int] = []
    errors: list[BaseException] = []

    def add() -> None:
        try:
            results.append(registry.add(modules[1], "router", promote=False))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=add) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [2, 3, 4, 5, 6, 7]
    assert not [p for p in (registry.root / "router").iterdir() if p.name.startswith(".add-")]


def test_modules_cli_round_trip(tmp_path, modules):
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path / "home"), "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "microgpt", "modules", *args], capture_output=True, text=True, env=env, check=False
        )

    assert "add one" in cli("list").stdout
    assert "added router v1 — current" in cli("add", str(modules[0]), "--name", "router").stdout
    assert "not current" in cli("add", str(modules[1]), "--name", "router").stdout
    assert cli("promote", "router", "2").returncode == 0
    listed = json.loads(cli("list", "router", "--format", "json").stdout)
    assert [(v["version"], v["current"]) for v in listed] == [(1, False), (2, True)]
    assert "rolled back to v1" in cli("rollback", "router").stdout
    proc = cli("rm", "router", "1")
    assert proc.returncode == 1 and "current version" in proc.stderr and "hint:" in proc.stderr
    assert cli("rm", "router", "2").returncode == 0


def test_issue_17_a_name_with_a_newline_is_refused(registry, modules):
    with pytest.raises(ConfigError, match="invalid module name"):
        registry.add(modules[0], "evil\n")
    assert not registry.root.exists() or not any(registry.root.iterdir())


def test_issue_17_concurrent_adds_of_a_new_name_promote_exactly_one(registry, modules):
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(registry.add(modules[0], "fresh"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert registry.current("fresh") == 1
    history = json.loads((registry.root / "fresh" / "history.json").read_text())
    assert [h["version"] for h in history] == [1]


def test_issue_17_a_corrupt_history_is_a_clear_error_and_the_pointer_stays(registry, modules):
    registry.add(modules[0], "router")
    registry.add(modules[1], "router")
    (registry.root / "router" / "history.json").write_text("{not json")
    with pytest.raises(RegistryError, match="history.json is corrupt") as err:
        registry.promote("router", 2)
    assert "delete it" in err.value.hint
    assert registry.current("router") == 1
    with pytest.raises(RegistryError, match="history.json is corrupt"):
        registry.rollback("router")
