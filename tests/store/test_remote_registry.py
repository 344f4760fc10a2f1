"""The registry on shared storage: a shared path (`MICROGPT_REGISTRY=/mnt/shared/modules`) or an fsspec URL — add,
promote, rollback and remove as on a local disk; a half-uploaded version is never listed; a promotion made by one
machine is seen by another (its own cache) within the pointer's 0.5 s."""

from __future__ import annotations

import time

import pytest

import microgpt
from microgpt.serving.models import Models
from microgpt.store.registry import Registry, RegistryError
from microgpt.store.remote import POINTER_TTL_S, RemoteRegistry, open_registry
from tests.conftest import HELPDESK

pytestmark = pytest.mark.scale


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    data = microgpt.read_examples(HELPDESK)
    microgpt.Classifier(tier="nano").fit(data).save(root / "a")
    microgpt.Classifier(tier="nano", nano={"c": 0.05}).fit(data).save(root / "b")
    return root


def test_open_registry_follows_microgpt_registry(tmp_path, monkeypatch):
    monkeypatch.delenv("MICROGPT_REGISTRY", raising=False)
    assert open_registry(tmp_path).root == tmp_path / "modules"
    monkeypatch.setenv("MICROGPT_REGISTRY", str(tmp_path / "shared"))
    reg = open_registry(tmp_path)
    assert type(reg) is Registry and reg.root == tmp_path / "shared"
    monkeypatch.setenv("MICROGPT_REGISTRY", "memory://microgpt-test/open")
    assert isinstance(open_registry(tmp_path), RemoteRegistry)


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_a_url_registry_adds_promotes_rolls_back_and_removes(trained, tmp_path, scheme):
    url = f"memory://microgpt-test/{tmp_path.name}" if scheme == "memory" else f"file://{tmp_path}/bucket"
    reg = RemoteRegistry(url, tmp_path / "machine-1")
    assert reg.names() == []
    assert reg.add(trained / "a", "router") == 1 and reg.current("router") == 1  # the first is promoted
    assert reg.add(trained / "b", "router") == 2 and reg.current("router") == 1
    assert [v.version for v in reg.versions("router")] == [1, 2] and reg.versions("router")[0].current
    reg.promote("router", 2)
    assert reg.current("router") == 2 and reg.previous("router") == 1
    assert reg.load("router").predict(["I was charged twice"])
    assert reg.rollback("router") == 1 and reg.current("router") == 1
    with pytest.raises(RegistryError, match="current version"):
        reg.remove("router", 1)
    reg.remove("router", 2)
    assert [v.version for v in reg.versions("router")] == [1]
    with pytest.raises(RegistryError, match="no module named 'nope'"):
        reg.current("nope")


def test_a_half_uploaded_version_is_never_listed(trained, tmp_path):
    url = f"memory://microgpt-test/{tmp_path.name}"
    reg = RemoteRegistry(url, tmp_path / "m")
    reg.add(trained / "a", "router")
    reg.fs.pipe(reg._key("router", "2", "microgpt.json"), b"{}")  # a crash mid-upload: no .complete marker
    assert [v.version for v in reg.versions("router")] == [1]
    with pytest.raises(RegistryError, match="no version 2"):
        reg.promote("router", 2)
    assert reg.add(trained / "b", "router") == 2  # the debris is replaced by a whole version
    assert reg.load("router", 2).predict(["hello"])


def test_a_promotion_by_one_machine_is_served_by_another_within_a_second(trained, tmp_path):
    url = f"file://{tmp_path}/shared"
    one, two = RemoteRegistry(url, tmp_path / "machine-1"), RemoteRegistry(url, tmp_path / "machine-2")
    one.add(trained / "a", "router")
    one.add(trained / "b", "router", promote=False)
    server = Models(two)  # what a replica on machine 2 holds
    assert server.get("router")[0] == 1
    one.promote("router", 2)
    start = time.monotonic()
    while server.get("router")[0] != 2:
        assert time.monotonic() - start < 2 * POINTER_TTL_S + 0.5
        time.sleep(0.02)
    assert (tmp_path / "machine-2" / "cache").is_dir()  # machine 2 downloaded the version once, into its cache
