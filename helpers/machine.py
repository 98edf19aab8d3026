"""What machine a number was measured on: benchmark figures mean nothing without it."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- the platform, for TargetPlatform
# A Neo artifact for a TargetPlatform runs only on that OS and CPU: a LINUX/X86_64 DLR directory
# carries an ELF `libdlr.so`, which dlr cannot load on macOS or Windows (it looks for
# libdlr.dylib / dlr.dll). Tests and rehearsals fake another machine with this variable.
FAKE_PLATFORM_ENV = "NEO_WORKSHOP_FAKE_PLATFORM"  # e.g. darwin-arm64, windows-x86_64, linux-arm64
OS_NAMES = {"linux": "Linux", "darwin": "macOS", "windows": "Windows"}
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64",
                 "i386": "x86", "i686": "x86", "x86": "x86", "armv7l": "armhf"}
# This machine's architecture -> botocore's TargetPlatformArch value (ARM_EABI, soft-float, is
# never what a Linux laptop or board reports as armv7l).
NEO_ARCH = {"x86_64": "X86_64", "x86": "X86", "arm64": "ARM64", "armhf": "ARM_EABIHF"}
RUNS_ELSEWHERE = {"Os": "LINUX", "Arch": "X86_64"}  # what a SageMaker Studio space is
# The one TargetPlatform the local Neo compiles (helpers/local/neo_targets.py, its x86-64 CPU family).
LOCAL_NEO_PLATFORM = {"Os": "LINUX", "Arch": "X86_64"}


@dataclass(frozen=True)
class Platform:
    """This kernel's operating system and CPU architecture (lower case: linux, darwin, windows; x86_64, arm64)."""

    os: str
    arch: str
    faked: bool = False

    @property
    def label(self) -> str:
        return f"{OS_NAMES.get(self.os, self.os)} {self.arch}" + (f" (faked by ${FAKE_PLATFORM_ENV})" if self.faked else "")


def this_platform() -> Platform:
    """The kernel's OS and CPU, or the one `$NEO_WORKSHOP_FAKE_PLATFORM` ("darwin-arm64") names."""
    if fake := os.environ.get(FAKE_PLATFORM_ENV, "").strip():
        system, _, arch = fake.lower().partition("-")
        if system not in OS_NAMES or arch not in _ARCH_ALIASES:
            raise ValueError(f"${FAKE_PLATFORM_ENV}={fake!r}: write OS-ARCH with OS one of {', '.join(OS_NAMES)} "
                             "and ARCH one of x86_64, arm64, x86, armhf (e.g. darwin-arm64), or unset it.")
        return Platform(system, _ARCH_ALIASES[arch], faked=True)
    machine = platform.machine().lower()
    return Platform(platform.system().lower(), _ARCH_ALIASES.get(machine, machine))


def neo_target_platform(plat: Platform, os_values: list[str], arch_values: list[str]) -> dict[str, str] | None:
    """Neo's TargetPlatform for `plat`, given botocore's TargetPlatformOs/Arch enums; None when Neo has none."""
    target = {"Os": plat.os.upper(), "Arch": NEO_ARCH.get(plat.arch, "")}
    return target if target["Os"] in os_values and target["Arch"] in arch_values else None


@dataclass(frozen=True)
class PlatformChoice:
    """The TargetPlatform to compile for, whether this machine can run the result, and why."""

    target: dict[str, str]
    runs_here: bool
    compiler_options: dict[str, str]  # {"mcpu": ...} when the CPU is this one; else empty
    note: str


def choose_target_platform(os_values: list[str], arch_values: list[str], local_neo: bool = False) -> PlatformChoice:
    """This machine's TargetPlatform where Neo has one (and, on the local backend, the local Neo compiles it).

    Otherwise LINUX/X86_64 anyway, so the lesson still compiles and shows the artifact, with a note
    that says plainly that this machine cannot run it and where it could. `mcpu` names this CPU
    only when the target is this machine and the CPU detected is the platform's (not under a fake
    of another architecture).
    """
    plat = this_platform()
    native = neo_target_platform(plat, os_values, arch_values)
    real_arch = _ARCH_ALIASES.get(platform.machine().lower(), platform.machine().lower())
    if native and (not local_neo or native == LOCAL_NEO_PLATFORM):
        options = {"mcpu": llvm_cpu_name()} if plat.arch == real_arch else {}
        return PlatformChoice(native, True, options, f"{plat.label}: TargetPlatform {native['Os']}/{native['Arch']}, "
                              "which this machine runs")
    if native is None:
        why = (f"Neo has no TargetPlatform for {plat.label} (botocore's TargetPlatformOs: {', '.join(os_values)}; "
               f"TargetPlatformArch: {', '.join(arch_values)})")
    else:
        why = (f"the local Neo compiles for TargetPlatform LINUX/X86_64 only, not {native['Os']}/{native['Arch']} "
               f"({plat.label})")
    return PlatformChoice(dict(RUNS_ELSEWHERE), False, {}, (
        f"{why}: compiling for LINUX/X86_64 anyway, without mcpu (the CPU it will run on is not this one). "
        "This machine cannot run the result; a Linux x86-64 machine can, such as a SageMaker Studio space "
        "(run notebooks 04 and 05 there). Notebook 05 goes on without this artifact's row."))
