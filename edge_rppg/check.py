"""``edge-rppg check``: what this machine can run, and the install line for each missing piece.

The GPU is found through the NVIDIA driver (``nvidia-smi`` / ``/proc/driver/nvidia``), not through
torch, so a CPU build of torch on a GPU machine does not read as "no GPU".
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import edge_rppg
from edge_rppg.optional import install_hint
from edge_rppg.runtimes.tensorrt_runtime import TENSORRT_MODULES

CPU_FLAGS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_tile": "AMX",
    "amx_bf16": "AMX BF16",
    "amx_int8": "AMX INT8",
}


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str | None
    driver: str | None


def nvidia_gpus() -> list[Gpu]:
    """NVIDIA GPUs as the driver reports them; [] when there is no driver."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout
            rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
            return [Gpu(r[0], r[1] if len(r) > 1 else None, r[2] if len(r) > 2 else None) for r in rows]
        except (subprocess.SubprocessError, OSError):
            pass
    gpus = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        fields = dict(line.split(":", 1) for line in info.read_text().splitlines() if ":" in line)
        gpus.append(Gpu(fields.get("Model", "NVIDIA GPU").strip(), None, None))
    return gpus


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [label for flag, label in CPU_FLAGS.items() if flag in flags]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(kw_only=True)
class Component:
    name: str
    version: str | None
    ok: bool
    detail: str = ""
    install: str = ""


@dataclass(kw_only=True)
class CheckReport:
    edge_rppg: str
    python: str
    platform: str
    cpu: str
    cpu_flags: list[str]
    gpus: list[Gpu]
    components: list[Component] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _torch() -> Component:
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return Component(
            name="torch",
            version=None,
            ok=False,
            detail="not installed: training and exports from checkpoints need it; predict --model, bench against the "
            "stored reference set and export --from an ONNX work without it",
            install=f"pip install torch==2.13.0 (a CPU wheel; first, or pip pulls CUDA) && {install_hint('train')}",
        )
    cuda = torch.version.cuda
    usable = torch.cuda.is_available()
    detail = f"CUDA {cuda} build, {'GPU usable' if usable else 'no usable GPU'}" if cuda else "CPU build"
    return Component(name="torch", version=torch.__version__, ok=True, detail=detail)


def _onnxruntime() -> Component:
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError:
        return Component(name="onnxruntime", version=None, ok=False, detail="not installed", install=install_hint(""))
    return Component(
        name="onnxruntime",
        version=ort.__version__,
        ok=True,
        detail="providers: " + ", ".join(ort.get_available_providers()),
    )


def _onnx() -> Component:
    version = _version("onnx")
    if version is None:
        return Component(
            name="onnx",
            version=None,
            ok=False,
            detail="not installed: FP16 and INT8 (Q/DQ) ONNX exports need it",
            install=install_hint("onnx"),
        )
    return Component(name="onnx", version=version, ok=True, detail="FP16 and INT8 (Q/DQ) ONNX exports")


def _openvino() -> Component:
    try:
        ov = importlib.import_module("openvino")
    except ImportError:
        return Component(
            name="openvino", version=None, ok=False, detail="not installed", install=install_hint("openvino")
        )
    from edge_rppg.runtimes.openvino_runtime import cpu_precisions

    precisions = cpu_precisions()
    detail = f"devices: {', '.join(ov.Core().available_devices)}; CPU computes in {', '.join(precisions)}"
    if "BF16" not in precisions:
        detail += " (no bf16: export --precision bf16 needs AVX512-BF16 or AMX)"
    return Component(name="openvino", version=ov.__version__, ok=True, detail=detail)


TENSORRT_ROLES = {
    "tensorrt": "runs engines on an NVIDIA GPU",
    "tensorrt_rtx": "builds engines, runs them on an NVIDIA GPU",
}


def _tensorrt(gpus: list[Gpu]) -> list[Component]:
    out = []
    for module in TENSORRT_MODULES:
        dist = extra = module.replace("_", "-")  # the wheel and the extra are named alike
        needs = TENSORRT_ROLES[module]
        version = _version(dist) or _version(f"{dist}-cu12") or _version(f"{dist}-cu13")
        found = importlib.util.find_spec(module) is not None
        detail = needs + ("" if gpus else "; no NVIDIA GPU here: engines cannot run")
        out.append(
            Component(
                name=module,
                version=version,
                ok=found,
                detail=detail if found else "not installed",
                install="" if found else install_hint(extra),
            )
        )
    return out


def _ray(address: str | None) -> Component:
    version = _version("ray")
    if version is None:
        return Component(
            name="ray",
            version=None,
            ok=False,
            detail="not installed: predict DIR --engine ray needs it",
            install=install_hint("ray"),
        )
    if address is None:
        return Component(
            name="ray", version=version, ok=True, detail="predict DIR --engine ray; --ray-address to see a cluster"
        )
    import ray

    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        res = ray.cluster_resources()
    except Exception as exc:  # an unreachable cluster is a finding, not a crash
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return Component(name="ray", version=version, ok=False, detail=f"cannot reach {address}: {first}")
    finally:
        ray.shutdown()
    cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
    return Component(
        name="ray",
        version=version,
        ok=True,
        detail=f"cluster at {address}: {len(nodes)} nodes, {cpus} CPUs, {gpus} GPUs",
    )


def check(ray_address: str | None = None) -> CheckReport:
    gpus = nvidia_gpus()
    report = CheckReport(
        edge_rppg=edge_rppg.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        cpu=cpu_name(),
        cpu_flags=cpu_flags(),
        gpus=gpus,
    )
    report.components = [_torch(), _onnxruntime(), _onnx(), _openvino(), *_tensorrt(gpus), _ray(ray_address)]
    return report


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
