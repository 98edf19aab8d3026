"""What machine a number was measured on: benchmark figures mean nothing without it."""

from __future__ import annotations

import os
import platform
import re
from functools import cache
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "torchvision", "timm", "openvino", "onnxruntime", "numpy", "boto3", "moto")


@cache
def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries whose speed we report ('-' when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions


def describe_machine() -> dict[str, object]:
    """CPU, cores, OS and library versions: recorded next to every benchmark result."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": library_versions(),
    }


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags from /proc/cpuinfo (e.g. avx2, avx512f); empty elsewhere.

    Compilers pick kernels by these: notebook 02 checks that every kernel the CPU plugin chose
    uses an instruction set this CPU has.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    return frozenset()


# --------------------------------------------------------------------------- LLVM CPU names
# Neo's CPU CompilerOptions name a CPU the way LLVM does (`{"mcpu": "skylake-avx512"}`): TVM
# passes them to LLVM's code generator. archspec (Spack's CPU database) knows, per
# microarchitecture, the features it needs and the flags clang takes for it; LLVM also accepts
# older names for some CPUs (llvm/lib/Target/X86/X86.td defines e.g. "core-avx2" beside "haswell").
LLVM_CPU_ALIASES = {"core-avx2": "haswell", "core-avx-i": "ivybridge", "corei7-avx": "sandybridge",
                    "corei7": "nehalem", "skx": "skylake-avx512", "icelake-server": "icelake-client"}


def _llvm_name(uarch: object) -> str | None:
    """The -march/-mcpu value clang takes for an archspec microarchitecture, if any."""
    try:
        flags = uarch.optimization_flags("clang", "99")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - archspec raises when no clang version supports it
        return None
    match = re.search(r"-m(?:arch|cpu)=(\S+)", flags)
    return match.group(1) if match else None


@cache
def llvm_x86_cpus() -> dict[str, frozenset[str]]:
    """x86-64 CPU names as LLVM spells them (what Neo's `mcpu` takes) -> the features each needs."""
    import archspec.cpu

    cpus = {}
    for uarch in archspec.cpu.TARGETS.values():
        if uarch.family.name == "x86_64" and (name := _llvm_name(uarch)):
            cpus[name] = frozenset(uarch.features)
    return cpus | {alias: cpus[name] for alias, name in LLVM_CPU_ALIASES.items() if name in cpus}


@cache
def cpu_features() -> frozenset[str]:
    """This CPU's features named as archspec names them (/proc/cpuinfo, normalised: sse3, not pni)."""
    from archspec.cpu.detect import detected_info

    return frozenset(detected_info().features)


# The features a compiler emits instructions of when generating a model's code (vector and
# arithmetic extensions). Others a microarchitecture lists (rdseed, pku, clwb, serialize...) never
# appear in generated model code, and VMs often hide them, so they decide nothing here.
CODEGEN_FEATURE = re.compile(r"^(sse|ssse|avx|fma|f16c|amx|bmi|abm|popcnt|movbe|adx|aes|vaes|"
                             r"pclmulqdq|vpclmulqdq|gfni|sha|xop|tbm|3dnow)")


def missing_cpu_features(mcpu: str) -> list[str]:
    """The code-generation features CPU `mcpu` has and this CPU lacks (KeyError if LLVM has no such x86 CPU)."""
    return sorted(f for f in llvm_x86_cpus()[mcpu] - cpu_features() if CODEGEN_FEATURE.match(f))


@cache
def llvm_cpu_name() -> str:
    """This CPU as LLVM names it: the newest microarchitecture of its vendor whose code it runs.

    That is the `mcpu` to give Neo for this machine (e.g. znver4, skylake-avx512). archspec's own
    `host()` also demands features generated code never uses (rdseed, pku...), which VMs often
    hide, and then falls back to a generic level (x86-64-v4); here only code-generation features
    count (CODEGEN_FEATURE).
    """
    import archspec.cpu
    from archspec.cpu.detect import detected_info

    vendor, have = detected_info().vendor, cpu_features()
    runnable = [u for u in archspec.cpu.TARGETS.values()
                if u.family.name == "x86_64" and u.vendor in (vendor, "generic") and _llvm_name(u)
                and not {f for f in u.features - have if CODEGEN_FEATURE.match(f)}]
    if not runnable:  # not an x86-64 CPU: archspec's own answer
        host = archspec.cpu.host()
        return _llvm_name(host) or host.name
    return _llvm_name(max(runnable, key=lambda u: (len(u.ancestors), len(u.features)))) or "x86-64"
