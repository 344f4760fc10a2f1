"""`export_onnx(module_dir)`: write ONNX graphs of a micro module's encoder(s) into the module, checked for parity.

After export, `microgpt.load` runs the module through ONNX Runtime (int8 when exported so): the PyTorch weights
stay in the module, so the export can be redone or dropped. int8 (dynamic quantisation) is refused when it loses
more than `max_drop` accuracy points on labelled data, unless forced.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from microgpt.data.records import Dataset
from microgpt.errors import ConfigError, DataError, MicroGPTError
from microgpt.module import MANIFEST, read_manifest, write_module

log = logging.getLogger(__name__)

PARITY_SAMPLE = [
    "where is my parcel",
    "I was charged twice for the same order, please fix it",
    "hello",
    "can you tell me how long a transfer from my other account usually takes before it shows up",
]


class ExportError(MicroGPTError, RuntimeError):
    """An export failed its parity or accuracy check."""


def export_onnx(
    module_dir: str | Path,
    int8: bool = False,
    data: Dataset | None = None,
    force: bool = False,
    max_drop: float = 0.005,
) -> dict[str, Any]:
    """Export, check and add the ONNX graph(s) to the module (atomically); returns the check results."""
    from microgpt.task import load

    path = Path(module_dir)
    model = load(path)
    engine = model.engine_
    if engine.tier != "micro":
        raise ConfigError(
            f"{path} is a {engine.tier} module; ONNX export is for micro modules",
            hint="nano modules already predict in ~0.1 ms with numpy; nothing to gain from ONNX",
        )
    if int8 and data is None and not force:
        raise DataError(
            "int8 export needs labelled data to check it keeps its accuracy",
            hint="pass --data TEST.csv (or --force to skip the check)",
        )
    texts = (data.texts[:2000] if data is not None else []) or PARITY_SAMPLE
    reference = engine.predict_proba(texts)
    with tempfile.TemporaryDirectory() as tmp:
        graphs = []
        for i, member in enumerate(engine.models):
            fp32 = Path(tmp) / f"micro-{i}.onnx"
            _export_member(member, engine, fp32)
            graph = fp32
            if int8:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                graph = Path(tmp) / f"micro-{i}.int8.onnx"
                quantize_dynamic(str(fp32), str(graph), weight_type=QuantType.QInt8)
            graphs.append(graph)
        engine.attach_onnx([str(g) for g in graphs])
        exported = engine.predict_proba(texts)
        engine.detach_onnx()
        report = _compare(model, reference, exported, data)
        if int8 and report.get("accuracy_drop", 0.0) > max_drop and not force:
            raise ExportError(
                f"int8 loses {report['accuracy_drop'] * 100:.2f} accuracy points on {report['n']} labelled texts "
                f"({report['accuracy_reference']:.4f} → {report['accuracy_exported']:.4f}), "
                f"over the {max_drop * 100:.1f} limit",
                hint="export without --int8 (fp32 ONNX keeps accuracy), or --force to accept the loss",
            )
        if not int8 and report["agreement"] < 1.0:
            raise ExportError(
                f"the ONNX graph disagrees with PyTorch on {1 - report['agreement']:.2%} of texts",
                hint="report this with the module's backbone name; keep serving with PyTorch meanwhile",
            )
        _add_to_module(path, graphs, {"int8": int8, "check": report})
    return report


def _export_member(member: Any, engine: Any, out: Path) -> None:
    import torch

    from microgpt.training.loop import encode, pad_batch

    member.eval()
    input_ids, mask = pad_batch(encode(engine.tokenizer, PARITY_SAMPLE[:2], engine.config.max_length), engine.pad_id)
    with warnings.catch_warnings():
        # Deliberate: the TorchScript exporter handles transformers encoders without onnxscript; torch warns that
        # the torch.export-based exporter is the new default.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks traced as constants: parity-checked
        torch.onnx.export(
            member,
            (input_ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "logits": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,  # the TorchScript exporter handles transformers encoders without onnxscript
        )


def _compare(model: Any, reference: np.ndarray, exported: np.ndarray, data: Dataset | None) -> dict[str, Any]:
    report: dict[str, Any] = {
        "n": len(reference),
        "agreement": float((reference.argmax(1) == exported.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(reference - exported).max()),
    }
    if data is not None and not model.multilabel:  # single-label: accuracy is the check
        gold = np.array(data.labels[: len(reference)])
        labels = np.array(model.labels_)
        report["accuracy_reference"] = float((labels[reference.argmax(1)] == gold).mean())
        report["accuracy_exported"] = float((labels[exported.argmax(1)] == gold).mean())
        report["accuracy_drop"] = report["accuracy_reference"] - report["accuracy_exported"]
    return report


def _add_to_module(path: Path, graphs: list[Path], onnx_meta: dict[str, Any]) -> None:
    """Rewrite the module with the graphs added (same atomic swap as a save; the manifest re-hashes every file)."""
    manifest = read_manifest(path, verify=True)
    for key in ("format", "format_version", "files"):
        manifest.pop(key, None)

    def write_files(tmp: Path) -> None:
        for item in path.iterdir():
            if item.name == MANIFEST or (item.suffix == ".onnx" and item.name.startswith("micro-")):
                continue  # the manifest is rewritten; earlier exports are replaced
            target = tmp / item.name
            shutil.copytree(item, target) if item.is_dir() else shutil.copy2(item, target)
        meta = json.loads((tmp / "micro.json").read_text())
        meta["onnx"] = {"files": [g.name for g in graphs], **onnx_meta}
        (tmp / "micro.json").write_text(json.dumps(meta, indent=1))
        for graph in graphs:
            shutil.copy2(graph, tmp / graph.name)

    write_module(path, manifest, write_files)
