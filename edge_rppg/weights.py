"""Weights by name: the bundled default model, and the authors' released checkpoints (pinned, hashed).

The authors' files are research-only (FactorizePhys RESEARCH-ONLY RAIL-MS): edge-rppg points to them at
a pinned commit and verifies their sha256, but never bundles them; the first download needs the user to
accept that licence. ``EDGE_RPPG_WEIGHTS_URL`` replaces the base URL (a mirror, or a ``file://`` folder).
A file put by hand where ``weights path`` says is verified and used like a downloaded one.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_rppg.errors import EdgeRppgError
from edge_rppg.models.registry import FAMILIES
from edge_rppg.optional import torch_installed
from edge_rppg.paths import cache_root, file_sha256

DEFAULT_NAME = "default"
DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.pt"
# The same model exported to ONNX and verified (scripts/package_default_model.py): what predicts with no
# weights where PyTorch is not installed.
DEFAULT_ONNX = DEFAULT_MODEL.with_suffix(".onnx")
RELEASE_COMMIT = "7c5ca93e372dd9cfd816a812f22c01bcdbf44fda"
BASE_URL = f"https://raw.githubusercontent.com/PhysiologicAILab/FactorizePhys/{RELEASE_COMMIT}/final_model_release"
URL_ENV = "EDGE_RPPG_WEIGHTS_URL"
LICENSE = "FactorizePhys RESEARCH-ONLY RAIL-MS"
LICENSE_URL = f"https://github.com/PhysiologicAILab/FactorizePhys/blob/{RELEASE_COMMIT}/LICENSE"
_ACCEPTED = ".license-accepted"
_TIMEOUT_S = 60


class WeightsError(EdgeRppgError):
    """A weights name is unknown, not downloaded, unlicensed, or fails its hash."""


# (file, sha256) of every released checkpoint at RELEASE_COMMIT (../shared/spec/pretrained.md).
_FILES = {
    "PURE_FactorizePhys_Base.pth": "9e8d081e4d3540cfda4ac12f15cfa34c170d218a072df6724005488448018bbf",
    "PURE_FactorizePhys_FSAM.pth": "132c1a03afb132754d51d90376aac52986d2dd1608d6ae3edc4a974884d2fb94",
    "PURE_FactorizePhys_FSAM_Res.pth": "00352947d39aee1853b5bff00577916876a89a6f81bf8e49216432f1c5bb9bbb",
    "SCAMPS_FactorizePhys_Base.pth": "48f935a18a661e5fefbc0ad09eb53626f4c36c86b54eed7481121210f6359c08",
    "SCAMPS_FactorizePhys_FSAM.pth": "e876aa38f6eeed448fcce27a568bd7adb164befe661e50e24ce4ae1bb5cdf647",
    "SCAMPS_FactorizePhys_FSAM_Res.pth": "fdf58efe1781c3e85194f3de9af2d945c8cef2c418005bd3f9a55a542e55cb45",
    "UBFC-rPPG_FactorizePhys_Base.pth": "cc565eaf5af774de4911f203264504600540fc3151b33d267397a9ea3f292506",
    "UBFC-rPPG_FactorizePhys_FSAM.pth": "71e08a85af67ec1a852846751b9b1c50a6a34bb8aee41e6b79bedefce2142688",
    "UBFC-rPPG_FactorizePhys_FSAM_Res.pth": "03cb8590e0b1f0fe669534d9708520fed0b20e1fe28e1b57a56a2504b4a246f6",
    "UBFC-rPPG_FactorizePhys_FSAM_Res_K-TAB.pth": "8861c4863e1d5c7fe48a5c60f7bb6264e3e8f3467020f1e90ba630c329dc7a76",
    "UBFC-rPPG_FactorizePhys_FSAM_Res_T-KAB.pth": "47091ae6e9af570d3cedfa8b5fff6c562fa06e874c5aa5ad4e1ffcf98fa68ee2",
    "UBFC-rPPG_FactorizePhys_FSAM_Res_TK-AB.pth": "8ed0708de6b4ac30be5e73fdf632c2304a6c47600834f7010fa58d2b8ce86ce4",
    "UBFC-rPPG_Intra_FactorizePhys_Base_HighRes.pth": "aaf50627de17ba830bb10a3ab9de6c7aa0bf51a11112f738834899d0a9ed6e51",  # noqa: E501
    "UBFC-rPPG_Intra_FactorizePhys_FSAM_Res.pth": "a449d64800a97b0f5d213e0552643265d056d9a54fa812ffb253af32492cd410",
    "UBFC-rPPG_Intra_FactorizePhys_FSAM_Res_HighRes.pth": "f64140e0c9b31b7ef6012c0bbb33fb5973d8a90c718c47115927fd43bf379157",  # noqa: E501
    "UBFC-rPPG_Intra_FactorizePhys_FSAM_Res_HighSpatialRes.pth": "0518b3e5cf8fcbb9224c800f675c2187e76193d8d11664f4b8145ca9f3cda909",  # noqa: E501
    "iBVP_FactorizePhys_Base.pth": "8e0269d24ba643135911d9eb5fbf043eee45e541f28fd634be5be76c833b966c",
    "iBVP_FactorizePhys_FSAM.pth": "652054e0621c7a96431f459d6096fa4853980381dcf3f2f3e017b2327e5c100d",
    "iBVP_FactorizePhys_FSAM_Res.pth": "21e20ea54498adcf4b4238cc49d407c807df08e2cf8c0e5cf8c6518ab463bf27",
    "iBVP_RGBT_FactorizePhys_Base.pth": "5139061093c7436a7a0813eb0e83a6af36d119d8faeeef31a53f57521f33a13f",
    "iBVP_RGBT_FactorizePhys_FSAM_Res.pth": "0b3bc64acb40cbc9a5ad465e0239a5a4165683b6cba3e1ec482570adf036780e",
    "iBVP_RGB_FactorizePhys_Base.pth": "8a8daea372b363cb5d0b27544ab84523622e77fce21635c27b6ab7e7d1322dc0",
    "iBVP_RGB_FactorizePhys_FSAM_Res.pth": "462f3184afda2eeed9ac0e6cf5bfe88e626af3ccf36f752971d7bbf7b6c4947a",
    "iBVP_T_FactorizePhys_Base.pth": "b0a882c4874584e777960a4a295d002b5f11608a6a02a32c9d0bc6972cf5e8e6",
    "iBVP_T_FactorizePhys_FSAM.pth": "8e6b287b69a123a2c620b240037e16d656d8da2c6683d2e6c7863d39e1d8aafa",
    "iBVP_T_FactorizePhys_FSAM_Res.pth": "d39c6f26f03cfdd860a288a155ce6826a36e4db6b152c7942e0530bcd7a52a52",
    "PURE_EfficientPhys_FSAM.pth": "2742aef0b8bd9a85f5a23df023d19f215093536043f3eb3a6e089245a10abd7e",
    "SCAMPS_EfficientPhys_FSAM.pth": "66b4d71e0e88a132175e3440258fac4fcca1885930c985511ec2243cab4eae40",
    "UBFC-rPPG_EfficientPhys_FSAM.pth": "17aaf357687356dacfeff831c0531c21167c2c55b7324e2e1497678258da9b2e",
    "UBFC-rPPG_Intra_EfficientPhys_FSAM.pth": "28b118f0af85780e0525a2840b9a7b5b54ea3a258d40405412417f8cc922051c",
    "iBVP_EfficientPhys_FSAM.pth": "12e253e914d3f676b8e6213dffa6181b4e59819530f1216b6c3d576149fdafea",
}
# Short names: <model>-<training set>; the paper's main model (FSAM with residual) is plain "factorizephys".
_TRAIN_SETS = {
    "UBFC-rPPG_Intra": "ubfc-intra",
    "UBFC-rPPG": "ubfc",
    "PURE": "pure",
    "SCAMPS": "scamps",
    "iBVP_RGBT": "ibvp-rgbt",
    "iBVP_RGB": "ibvp-rgb",
    "iBVP_T": "ibvp-t",
    "iBVP": "ibvp",
}
_MODELS = {
    "FactorizePhys_FSAM_Res": "factorizephys",
    "FactorizePhys_FSAM": "factorizephys-fsam-nores",
    "FactorizePhys_Base": "factorizephys-base",
    "EfficientPhys_FSAM": "efficientphys-fsam",
}
# Files whose input size differs from the 72x72 contract: listed and pullable, not loadable here.
UNSUPPORTED = {"HighRes": "128x128 input (FactorizePhysBig), not the 72x72 contract"}


@dataclass(kw_only=True, frozen=True)
class Released:
    name: str
    file: str
    sha256: str
    arch: str
    trained_on: str
    license: str = LICENSE

    @property
    def url(self) -> str:
        return f"{base_url()}/{self.file}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "url": self.url,
            "cached": cached_path(self).exists(),
            "path": str(cached_path(self)),
            "supported": not any(tag in self.file for tag in UNSUPPORTED),
        }


def _short_name(file: str) -> str:
    stem = file.removesuffix(".pth")
    train = next(t for t in _TRAIN_SETS if stem.startswith(t + "_"))
    rest = stem[len(train) + 1 :]
    model = next(
        (
            short + rest[len(long) :].lower().replace("_", "-")
            for long, short in _MODELS.items()
            if rest.startswith(long)
        ),
        rest.lower(),
    )
    return f"{model}-{_TRAIN_SETS[train]}"


def _released() -> dict[str, Released]:
    table = {}
    for file, sha in _FILES.items():
        train = next(t for t in _TRAIN_SETS if file.startswith(t + "_"))
        family = next(f for f in FAMILIES.values() if f"_{f.title}_" in file)
        entry = Released(name=_short_name(file), file=file, sha256=sha, arch=family.name, trained_on=train)
        table[entry.name] = entry
    return table


RELEASED: dict[str, Released] = _released()


def base_url() -> str:
    return os.environ.get(URL_ENV, BASE_URL).rstrip("/")


def weights_dir() -> Path:
    return cache_root() / "weights"


def cached_path(entry: Released) -> Path:
    return weights_dir() / entry.file


def find(name: str) -> Released | None:
    """A released checkpoint by short name or by file name (with or without .pth)."""
    if name in RELEASED:
        return RELEASED[name]
    file = name if name.endswith(".pth") else f"{name}.pth"
    return next((e for e in RELEASED.values() if e.file == file), None)


def license_accepted() -> bool:
    return (weights_dir() / _ACCEPTED).is_file()


def accept_license() -> None:
    weights_dir().mkdir(parents=True, exist_ok=True)
    (weights_dir() / _ACCEPTED).write_text(f"{LICENSE}\n{LICENSE_URL}\n")


def _verified(entry: Released, path: Path) -> Path:
    digest = file_sha256(path)
    if digest != entry.sha256:
        raise WeightsError(
            f"{path}: sha256 {digest[:16]}... is not the released {entry.file} ({entry.sha256[:16]}...); "
            "delete it and pull again"
        )
    return path


def _download(entry: Released, dest: Path) -> None:
    """Stream into a temporary file beside ``dest``, hash while writing, rename only when the hash matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(entry.url, timeout=_TIMEOUT_S) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(1 << 16), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != entry.sha256:
            raise WeightsError(
                f"{entry.url}: downloaded file has sha256 {h.hexdigest()[:16]}..., expected "
                f"{entry.sha256[:16]}...; nothing kept"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(
            f"{entry.url}: download failed ({reason}); offline, put the file at {dest} by hand (sha256 {entry.sha256})"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def pull(name: str, accept: bool = False) -> Path:
    """Download (once) and verify a released checkpoint; returns its path in the cache."""
    entry = find(name)
    if entry is None:
        raise WeightsError(f"{name}: not a released checkpoint name (edge-rppg weights list)")
    dest = cached_path(entry)
    if dest.exists():
        return _verified(entry, dest)
    if accept:
        accept_license()
    if not license_accepted():
        raise WeightsError(
            f"{entry.file} is under the {LICENSE} licence (research only, {LICENSE_URL}); "
            f"read it, then run: edge-rppg weights pull {entry.name} --accept-license"
        )
    _download(entry, dest)
    return dest


def bundled_onnx(checkpoint: Path) -> Path | None:
    """The bundled model's verified ONNX export where PyTorch is not installed (a slim install), else None:
    the checkpoint itself runs, or is exported for the runtime, where PyTorch is at hand."""
    if checkpoint != DEFAULT_MODEL or torch_installed() or not DEFAULT_ONNX.is_file():
        return None
    return DEFAULT_ONNX


def resolve(weights: str | Path | None) -> tuple[Path, str | None]:
    """A checkpoint path from what the user gave: nothing (the bundled default), ``default``, a file, or a
    released name (already pulled, or placed by hand). Returns (path, a one-line note or None)."""
    if weights is None or str(weights) == DEFAULT_NAME:
        if not DEFAULT_MODEL.is_file():
            raise WeightsError(f"{DEFAULT_MODEL}: the bundled default model is missing from this installation")
        note = "using the bundled default model (trained on synthetic videos only; edge-rppg info --weights default)"
        return DEFAULT_MODEL, note if weights is None else None
    path = Path(weights)
    if path.exists():
        if not path.is_file():
            raise WeightsError(f"{path}: is not a checkpoint file (a folder, pipe or device)")
        return path, None
    entry = find(str(weights))
    if entry is None:
        raise WeightsError(f"{weights}: no such file, and not a weights name (edge-rppg weights list)")
    dest = cached_path(entry)
    if not dest.exists():
        raise WeightsError(
            f"{entry.name}: not downloaded yet; run: edge-rppg weights pull {entry.name} (or put {entry.file} "
            f"at {dest})"
        )
    return _verified(entry, dest), None
