"""What the machine can do, and the precision, memory layout and thread count chosen from that.

The rules come from `benchmarks/train_step.py` run on each machine class we had (docs/PERFORMANCE.md):

- CUDA with bfloat16 (Ampere and newer) -> `bf16-mixed`; older CUDA GPUs (T4, V100) -> `16-mixed`.
- A CPU with native bfloat16 (AMX or AVX512-BF16) -> `bf16-mixed`: 1.37-1.52x fp32 measured.
- Any other CPU -> `32-true`: there bfloat16 is emulated and ran at 0.12-0.25x of fp32.
- channels_last (NHWC): faster on both CPU classes measured (1.10-1.13x fp32 on AVX2, 1.13-1.21x on
  AMX) and on CUDA with mixed precision (tensor cores read NHWC); in plain fp32 on CUDA it is left off.

They are capability checks rather than a few timed steps at start-up: the gaps are 4x or more, the
same on every run, while timing steps costs seconds per command and is noisy on a busy machine.
"""

import functools
import logging
import os
import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from face_vae.core.rules import AUTO_OR_BOOL, AUTO_OR_POSITIVE, one_of, setting

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
AUTO = "auto"
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


@dataclass
class RuntimeSettings:
    """The `runtime` group: how the network runs on this machine; `auto` is resolved at the start of the command
    (`resolve` below), printed, and logged to MLflow as resolved.*. An explicit value always wins."""

    precision: str = setting(
        "auto",
        "auto: bf16-mixed on CUDA with bfloat16 and on CPUs with native bfloat16 (AMX, AVX512-BF16), 16-mixed "
        "on older GPUs, 32-true on other CPUs",
        one_of(*PRECISIONS),
    )
    channels_last: Any = setting("auto", "NHWC memory layout; auto: where it measured faster", AUTO_OR_BOOL)
    threads: Any = setting(
        "auto", "CPU threads for torch's maths; auto: every core this process may use", AUTO_OR_POSITIVE
    )


def half_type(precision: str) -> "torch.dtype | None":
    """The half type that a Lightning precision ("bf16-mixed", "16-mixed", ...) computes in, or None."""
    import torch

    if precision.startswith("bf16"):
        return torch.bfloat16
    return torch.float16 if precision.startswith("16") else None


@dataclass(frozen=True)
class Machine:
    """The facts the rules read; built by `detect()`, or by hand in tests."""

    device: str  # "cuda" or "cpu": where the network runs
    name: str  # the GPU's name, or the CPU model
    cpu_capability: str  # torch.backends.cpu.get_cpu_capability(): AVX2, AVX512, ...
    native_bf16: bool  # bfloat16 runs at hardware speed on `device` (not emulated)
    cores: int  # CPU cores this process may use


@dataclass(frozen=True)
class Runtime:
    """The settings a command runs the network with, once resolved."""

    precision: str
    channels_last: bool
    threads: int
    machine: Machine

    def params(self) -> dict[str, str]:
        """What MLflow records of them."""
        return {
            "resolved.precision": self.precision,
            "resolved.channels_last": str(self.channels_last),
            "resolved.threads": str(self.threads),
            "resolved.device": self.machine.device,
            "resolved.device_name": self.machine.name,
            "resolved.cpu_capability": self.machine.cpu_capability,
        }

    def place(self, network: "torch.nn.Module") -> "torch.nn.Module":
        """`network` ready for inference here: on the device, in the half type of a mixed precision
        (inference needs no float32 master weights), NHWC when channels_last, in eval mode."""
        import torch

        dtype = half_type(self.precision) or torch.float32
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return network.to(device=self.machine.device, dtype=dtype, memory_format=layout).eval()

    def autocast(self) -> AbstractContextManager:
        """Mixed-precision autocast on the device for code that runs a float32 network, else nothing."""
        import torch

        dtype = half_type(self.precision)
        return torch.autocast(self.machine.device, dtype=dtype) if dtype else nullcontext()

    def describe(self) -> str:
        """One line for the log."""
        layout = "channels_last" if self.channels_last else "contiguous"
        return (
            f"Running on {self.machine.device} ({self.machine.name}, {self.machine.cpu_capability}, "
            f"{'native' if self.machine.native_bf16 else 'no native'} bfloat16): precision {self.precision}, "
            f"{layout}, {self.threads} CPU threads."
        )


def resolve_precision(requested: str, machine: Machine) -> str:
    """`requested` itself, or for `auto` the fastest precision `machine` runs natively."""
    if requested != AUTO:
        return requested
    if machine.device == "cuda":
        return "bf16-mixed" if machine.native_bf16 else "16-mixed"
    return "bf16-mixed" if machine.native_bf16 else "32-true"


def resolve_channels_last(requested: bool | str, precision: str, machine: Machine) -> bool:
    """`requested` itself, or for `auto` whether NHWC measured faster for this device and precision."""
    if requested != AUTO:
        return bool(requested)
    if machine.device == "cuda":
        return precision.endswith("-mixed")
    return True


def resolve_threads(requested: int | str, machine: Machine, processes: int = 1) -> int:
    """`requested` itself, or for `auto` the cores this process may use shared among the `processes` that
    train side by side on this machine (DDP ranks); an OMP_NUM_THREADS set by the user or torchrun wins."""
    if requested != AUTO:
        return int(requested)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return max(1, machine.cores // max(1, processes))


def cuda_native_bf16() -> bool:
    """bfloat16 at hardware speed on this GPU (Ampere and newer; ROCm): torch's answer without emulation, which would
    say yes on Turing and Volta (T4, V100), where bfloat16 is slower than float16."""
    import torch

    return torch.cuda.is_bf16_supported(including_emulation=False)


@functools.cache  # a process's machine does not change: train's and infer's hooks ask for it up to three times
def detect() -> Machine:
    """Read the machine this process runs on."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    capability = torch.backends.cpu.get_cpu_capability()
    if torch.cuda.is_available():
        native = cuda_native_bf16()
        return Machine("cuda", torch.cuda.get_device_name(), capability, native, cores)
    # mkldnn's own bf16 check also says yes on AVX512 CPUs that only emulate it: ask for the instructions.
    native = _cpu_flag("_is_amx_tile_supported") or _cpu_flag("_is_avx512_bf16_supported")
    return Machine("cpu", cpu_model(), capability, native, cores)


def resolve(
    precision: str, channels_last: bool | str, threads: int | str, machine: Machine | None = None, processes: int = 1
) -> Runtime:
    """Resolve the three settings for `machine` (this one by default) and `processes` training side by side on
    it, apply them to torch, say so."""
    import torch

    machine = machine or detect()
    chosen = resolve_precision(precision, machine)
    layout = resolve_channels_last(channels_last, chosen, machine)
    runtime = Runtime(chosen, layout, resolve_threads(threads, machine, processes), machine)
    torch.set_num_threads(runtime.threads)
    if machine.device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed image sizes: let cuDNN time its kernels once
        torch.set_float32_matmul_precision("high")  # TF32 for any float32 matmul left (32-true, the GMM fit)
    log.info(runtime.describe())
    return runtime


def cpu_model() -> str:
    """The CPU's marketing name ('AMD EPYC', 'Intel(R) Xeon(R) ...'), or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flag(name: str) -> bool:
    import torch

    check = getattr(torch.cpu, name, None)  # private helpers of torch.cpu (cpuinfo); absent on old torch
    return bool(check()) if check else False
