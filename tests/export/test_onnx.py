"""ONNX export: parity with PyTorch, int8 refused when it loses accuracy, and load() serving through ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import microgpt
from microgpt import Classifier
from microgpt.export.onnx import ExportError, export_onnx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def micro_module(tmp_path_factory, helpdesk_split):
    path = tmp_path_factory.mktemp("onnx") / "m"
    settings = {"max_steps": 12, "min_steps": 0, "batch_size": 16, "max_length": 48, "members": 2}
    Classifier("micro", micro=settings).fit(helpdesk_split[0]).save(path)
    return path


def test_fp32_export_matches_pytorch_and_load_uses_onnx(micro_module, helpdesk_split, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(micro_module, path)
    texts = helpdesk_split[1].texts
    before = microgpt.load(path).predict_proba(texts)
    report = export_onnx(path, data=helpdesk_split[1])
    assert report["agreement"] == 1.0 and report["max_abs_diff"] < 1e-4
    manifest = json.loads((path / "microgpt.json").read_text())
    assert {"micro-0.onnx", "micro-1.onnx"} <= set(manifest["files"])
    loaded = microgpt.load(path)
    assert len(loaded.engine_.sessions) == 2
    np.testing.assert_allclose(loaded.predict_proba(texts), before, atol=1e-4)


def test_int8_needs_data_and_is_refused_when_it_loses_accuracy(micro_module, helpdesk_split, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(micro_module, path)
    with pytest.raises(microgpt.DataError, match="needs labelled data"):
        export_onnx(path, int8=True)
    with pytest.raises(ExportError, match="int8 loses") as err:
        export_onnx(path, int8=True, data=helpdesk_split[1], max_drop=-1.0)  # any result fails a negative limit
    assert "--force" in err.value.hint
    assert not any(p.suffix == ".onnx" for p in path.iterdir())  # a refused export leaves the module untouched
    report = export_onnx(path, int8=True, data=helpdesk_split[1], force=True)
    assert report["n"] == len(helpdesk_split[1]) and "accuracy_drop" in report
    loaded = microgpt.load(path)
    assert loaded.engine_.onnx_["int8"] is True and loaded.engine_.onnx_["check"] == report


def test_export_cli_and_nano_refusal(micro_module, helpdesk_split, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(micro_module, path)
    proc = subprocess.run(
        [sys.executable, "-m", "microgpt", "export", str(path), "--format", "onnx"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["agreement"] == 1.0
    nano = tmp_path / "nano"
    Classifier("nano").fit(helpdesk_split[0]).save(nano)
    with pytest.raises(microgpt.ConfigError, match="ONNX export is for micro"):
        export_onnx(nano)
