"""The GPU models `qd dev` can fake, with the labels NVIDIA's GPU feature discovery sets.

Per-GPU CPU and memory defaults size a node the way cloud GPU instances are sized, so
`4x gpu-h100-8` gives nodes that look like the real thing to the scheduler and to
quarterdeck's placement. MIG profiles are the ones NVIDIA documents per model.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuModel:
    key: str
    product: str  # value of nvidia.com/gpu.product
    memory_mib: int  # value of nvidia.com/gpu.memory
    cpu_per_gpu: int  # cores per GPU on a typical node
    memory_gib_per_gpu: int
    #: MIG profile -> how many slices of it one GPU holds.
    mig_profiles: dict[str, int] = field(default_factory=dict)


_MIG_80GB = {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1}
_MIG_40GB = {"1g.5gb": 7, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1}
_MIG_141GB = {"1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1}

CATALOG: dict[str, GpuModel] = {
    m.key: m
    for m in (
        GpuModel("b200", "NVIDIA-B200", 183359, 28, 256),
        GpuModel("h200", "NVIDIA-H200", 143771, 28, 256, _MIG_141GB),
        GpuModel("h100", "NVIDIA-H100-80GB-HBM3", 81559, 28, 256, _MIG_80GB),
        GpuModel("a100", "NVIDIA-A100-SXM4-80GB", 81920, 16, 128, _MIG_80GB),
        GpuModel("a100-40", "NVIDIA-A100-SXM4-40GB", 40960, 12, 96, _MIG_40GB),
        GpuModel("l40s", "NVIDIA-L40S", 46068, 16, 64),
        GpuModel("l4", "NVIDIA-L4", 23034, 12, 48),
        GpuModel("a10", "NVIDIA-A10", 23028, 12, 48),
        GpuModel("t4", "Tesla-T4", 15360, 8, 32),
        GpuModel("v100", "Tesla-V100-SXM2-32GB", 32768, 8, 64),
        GpuModel("p100", "Tesla-P100-PCIE-16GB", 16384, 8, 64),
        # The Alibaba openb trace's models (G2 and G3 are undisclosed by the publisher).
        GpuModel("v100m16", "Tesla-V100-SXM2-16GB", 16384, 8, 64),
        GpuModel("v100m32", "Tesla-V100-SXM2-32GB", 32768, 8, 64),
        GpuModel("g2", "openb-G2", 16384, 8, 64),
        GpuModel("g3", "openb-G3", 16384, 8, 64),
    )
}


def lookup(key: str) -> GpuModel:
    """The catalog entry for a model key (case-insensitive), or a ValueError listing them."""
    model = CATALOG.get(key.lower())
    if model is None:
        known = ", ".join(sorted(CATALOG))
        raise ValueError(f"unknown GPU model {key!r} (known: {known})")
    return model
