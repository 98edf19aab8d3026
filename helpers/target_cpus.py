"""The CPU a Neo x86-64 target names, and the instruction-set cap that stands in for it here.

Real Neo generates machine code ahead of time for the target's CPU (TVM with LLVM, `mcpu`), so an
`ml_c4` artifact (Haswell: AVX2) and an `ml_c5` one (Skylake-SP: AVX-512) are different code, and
code for a CPU with instructions this one lacks stops with "illegal instruction". The local Neo's
OpenVINO artifact is compiled to machine code when it is *loaded*, for the CPU that loads it. To
make the target matter anyway, the local Neo records the target's CPU in `compiled.meta`
(`target_cpu`) and the runtime caps the instruction set oneDNN (OpenVINO's CPU kernels) may use
to that CPU's, with `ONEDNN_MAX_CPU_ISA` (oneDNN's "CPU dispatcher control": it names the
*highest* ISA oneDNN dispatches to, read once per process, when the library first runs:
https://oneapi-src.github.io/oneDNN/dev_guide_cpu_dispatcher_control.html). A cap can only
lower the level: an AVX-512 target on an AVX2 machine still runs AVX2 kernels.

Which CPU each instance family runs (Amazon EC2 instance types, https://aws.amazon.com/ec2/instance-types/,
"Compute optimized" / "General purpose": C4 "Intel Xeon E5-2666 v3 (Haswell)"; C5 "Intel Xeon
Platinum 8000 series (Skylake-SP or Cascade Lake)"; M4 "Intel Xeon E5-2686 v4 (Broadwell) or
E5-2676 v3 (Haswell)"; M5 "Intel Xeon Platinum 8175M or 8259CL"). Each is named by the *oldest*
CPU the family may land on, as LLVM spells it, since code for it runs on all of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import machine

ISA_ENV = "ONEDNN_MAX_CPU_ISA"

# TargetDevice -> (the CPU as AWS describes it, the oldest of them in LLVM's words)
INSTANCE_CPUS: dict[str, tuple[str, str]] = {
    "ml_c4": ("Intel Xeon E5-2666 v3 (Haswell): AVX2", "haswell"),
    "ml_m4": ("Intel Xeon E5-2686 v4 (Broadwell) or E5-2676 v3 (Haswell): AVX2", "haswell"),
    "ml_c5": ("Intel Xeon Platinum 8000 series (Skylake-SP or Cascade Lake): AVX-512", "skylake-avx512"),
    "ml_m5": ("Intel Xeon Platinum 8175M or 8259CL (Skylake-SP, Cascade Lake): AVX-512", "skylake-avx512"),
}

# The highest oneDNN ISA a CPU with these features reaches, best first (oneDNN's value names).
# An AVX2 CPU gets AVX2_VNNI, one step up, on purpose: OpenVINO 2026.4's compile_model failed on
# an AVX-512 machine capped at plain AVX2, while AVX2_VNNI gives the same f32 kernels
# (brgconv_avx2_*: VNNI adds int8 dot products only, and the local Neo compiles f32).
ISA_LEVELS: tuple[tuple[str, str], ...] = (
    ("amx_tile", "AVX512_CORE_AMX"),
    ("avx512_bf16", "AVX512_CORE_BF16"),
    ("avx512_vnni", "AVX512_CORE_VNNI"),
    ("avx512f", "AVX512_CORE"),
    ("avx2", "AVX2_VNNI"),
    ("avx", "AVX"),
    ("sse4_1", "SSE41"),
)


def isa_level(features: frozenset[str]) -> str:
    """oneDNN's name for the highest ISA a CPU with `features` has (SSE41, oneDNN's floor, at least)."""
    return next((level for feature, level in ISA_LEVELS if feature in features), "SSE41")


def target_cpu(target: str, mcpu: str | None = None) -> dict[str, Any] | None:
    """compiled.meta's `target_cpu` for a job's target: `mcpu` when given, else the instance's CPU.

    None when the target names no CPU (a TargetPlatform without `mcpu`, `sbe_c`): the artifact
    then runs with whatever the loading CPU has, as it always did.
    """
    if mcpu:
        cpu, llvm_name, source = f"{mcpu} (CompilerOptions mcpu)", mcpu, "mcpu"
    elif target in INSTANCE_CPUS:
        (cpu, llvm_name), source = INSTANCE_CPUS[target], "instance"
    else:
        return None
    features = machine.llvm_x86_cpus().get(llvm_name, frozenset())
    return {"cpu": cpu, "mcpu": llvm_name, "isa": isa_level(features), "from": source}


def _wanted(meta: dict[str, Any]) -> dict[str, Any]:
    """compiled.meta's target_cpu ({} when absent, or a string: artifacts of an earlier workshop version)."""
    wanted = meta.get("target_cpu")
    return wanted if isinstance(wanted, dict) else {}


def isa_environment(meta: dict[str, Any]) -> dict[str, str]:
    """The environment variable that caps a process at the artifact's target ISA ({} for none)."""
    level = _wanted(meta).get("isa")
    return {ISA_ENV: level} if level else {}


def directory_isa_environment(directory: Path) -> dict[str, str]:
    """`isa_environment` of an artifact directory's compiled.meta; {} without one or when unreadable
    (a broken meta is the loader's to report, when it loads the model)."""
    meta_file = Path(directory) / "compiled.meta"
    try:
        return isa_environment(json.loads(meta_file.read_text())) if meta_file.is_file() else {}
    except (OSError, ValueError):
        return {}


def load_problem(meta: dict[str, Any]) -> str | None:
    """Why this CPU cannot run an artifact built for a named CPU (`mcpu`), or None.

    A real Neo artifact for a CPU with instructions this one lacks stops with "illegal
    instruction"; the local Neo's says so before it runs. An instance target (`ml_c5` on a CPU
    without AVX-512) is not refused: the local endpoint stands in for that instance, on this CPU.
    """
    wanted = _wanted(meta)
    if wanted.get("from") != "mcpu":
        return None
    missing = machine.missing_cpu_features(wanted["mcpu"])
    if not missing:
        return None
    return (f"this artifact was compiled for mcpu {wanted['mcpu']}, and this CPU ({machine.cpu_model()}) lacks "
            f"{', '.join(missing)}: code built for that CPU would stop here with an illegal instruction. Run it "
            f"on such a CPU, or compile with mcpu {machine.llvm_cpu_name()} (this machine).")


def running_level(meta: dict[str, Any], process_cap: str | None) -> str:
    """One line for a runtime string: the ISA the artifact's target allows, and whether this process applies it."""
    wanted = _wanted(meta)
    if not wanted.get("isa"):
        return "no target CPU recorded: this CPU's best instructions"
    if process_cap == wanted["isa"]:
        return f"capped at {wanted['isa']} ({wanted['mcpu']})"
    return (f"target {wanted['mcpu']} allows up to {wanted['isa']}, not applied in this process "
            f"({ISA_ENV} is read once per process: endpoints and isolated runs apply it)")
