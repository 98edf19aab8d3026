"""Which Neo targets the local Neo compiles, and what it answers for every other one.

Real Neo compiles one model for any of several dozen targets, with a different compiler per
target family: Apache TVM generating CPU code with LLVM in general, TensorRT for NVIDIA GPUs, the
AWS Neuron compiler for Inferentia and Trainium, Core ML's converter for Apple devices. The local
Neo has one compiler (OpenVINO, for this x86-64 CPU), so it compiles the x86-64 CPU targets and
fails every other *valid* target with a FailureReason that says what real Neo would use for it
and why this machine cannot. An *invalid* target (not in botocore's enums) never becomes a job:
SageMaker refuses it at CreateCompilationJob with a ValidationException, and so does the local
backend (`request_problem`, called by `compilation_service`).

The valid values come from botocore's installed service model (`sagemaker_facts.sagemaker_enum`),
never a hand copy; FAMILIES sorts each of them into a family with its reason, and
tests/test_neo_targets.py checks every enum value (and every TargetPlatform combination) finds a
family, so a botocore upgrade that adds a target fails the tests until it is sorted in.

Sources: the edge devices page, https://docs.aws.amazon.com/sagemaker/latest/dg/
neo-supported-devices-edge-devices.html (OS, architecture and accelerator of each device, and
the Linux/Android/Windows support matrices), the cloud page, .../neo-supported-cloud.html
("Standard" x86 instances ml_c4/c5/m4/m5; GPU ml_p2/p3/g4dn; Inferentia), botocore's
OutputConfig documentation (ml_inf compiles with the Neuron compiler: its CompilerOptions are
neuron-cc flags) and sagemaker-core's ProductionVariant.accelerator_type ("Elastic Inference (EI)
is no longer available").
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from helpers.compiler import CompilationError
from helpers.sagemaker_facts import TARGET_PLATFORM_ENUMS, neo_target_devices, sagemaker_enum


@dataclass(frozen=True)
class Family:
    """A kind of target: which TargetDevice / TargetPlatform names it covers and what Neo does for it."""

    name: str
    devices: tuple[str, ...]  # TargetDevice patterns (fnmatch)
    platforms: tuple[str, ...]  # TargetPlatform patterns over "OS_ARCH[_ACCELERATOR]"
    real_neo: str  # what real Neo compiles it with
    why_not_here: str = ""  # empty: the local Neo compiles it

    @property
    def compiles_here(self) -> bool:
        return not self.why_not_here


NO_NVIDIA = "this machine has no NVIDIA GPU (and the local Neo has no CUDA or TensorRT)"
ARM_CODE = "ARM code cannot run on this x86-64 machine (the local Neo generates x86-64 code only)"

# The one table: first match wins. Device lists follow the edge devices page and the cloud page.
FAMILIES: tuple[Family, ...] = (
    Family("x86-64 CPU", ("ml_c4", "ml_c5", "ml_m4", "ml_m5", "sbe_c"), ("LINUX_X86_64",),
           "TVM, generating x86-64 code with LLVM (CompilerOptions mcpu/mattr pick the instruction set)"),
    Family("NVIDIA GPU instance", ("ml_p2", "ml_p3", "ml_g4dn"), ("LINUX_X86_64_NVIDIA",),
           "TensorRT (or TVM with CUDA) for the instance's NVIDIA GPU", NO_NVIDIA),
    Family("NVIDIA Jetson", ("jetson_*",), ("LINUX_ARM64_NVIDIA",),
           "TensorRT (or TVM with CUDA) for the Jetson's NVIDIA GPU, TVM for its ARM64 CPU",
           f"{NO_NVIDIA}, and {ARM_CODE}"),
    Family("AWS Inferentia / Trainium", ("ml_inf1", "ml_inf2", "ml_trn1"), (),
           "the AWS Neuron compiler (neuron-cc for Inferentia, neuronx-cc for Inferentia2 and Trainium)",
           "Neuron code runs only on the Inferentia/Trainium chips of inf1, inf2 and trn1 instances"),
    Family("Elastic Inference", ("ml_eia2",), (),
           "TensorRT, for an Elastic Inference accelerator attached to a CPU instance",
           "Elastic Inference is discontinued (AWS: no longer available), and this machine has no such accelerator"),
    Family("Graviton (ARM64) instance", ("ml_c6g", "ml_m6g"), (),
           "TVM, generating ARM64 code for the Graviton2 CPU", ARM_CODE),
    Family("ARM CPU", ("rasp3b", "rasp4b", "imx8qm", "imx8mplus", "rk3288", "rk3399", "aisage",
                               "sitara_am57x", "jacinto_tda4vm", "amba_cv2*"),
           ("LINUX_ARM64", "LINUX_ARM_EABI", "LINUX_ARM_EABIHF"),
           "TVM, generating ARM code for the board's CPU (plus the vendor's toolchain where the SoC has "
           "a neural accelerator: NXP NPU, TI TIDL, Ambarella CVflow)", ARM_CODE),
    Family("ARM Mali GPU", (), ("LINUX_ARM64_MALI", "LINUX_ARM_EABI_MALI", "LINUX_ARM_EABIHF_MALI"),
           "TVM with OpenCL for the Mali GPU", f"this machine has no Mali GPU, and {ARM_CODE}"),
    Family("Android", ("qcs603", "qcs605"), ("ANDROID_*",),
           "TVM, building a library for Android (CompilerOptions ANDROID_PLATFORM is the API level)",
           "Android code links against Android's own libraries, not this Linux machine's"),
    Family("Intel graphics", ("deeplens",), ("LINUX_X86_64_INTEL_GRAPHICS",),
           "TVM with OpenCL for the Intel integrated GPU (AWS DeepLens: Intel Atom with Intel graphics)",
           "the local Neo compiles for CPUs only, and this machine has no Intel GPU"),
    Family("neural network accelerator", (), ("LINUX_*_NNA",),
           "the accelerator vendor's compiler behind Neo", "this machine has no such accelerator"),
    Family("Windows on x86", ("x86_win32", "x86_win64"), (),
           "TVM, generating a Windows 10 library run with DLR on Windows",
           "the local Neo builds Linux artifacts only; a Windows library cannot be loaded here"),
    Family("Apple Core ML", ("coreml",), (),
           "Core ML's converter, producing a Core ML model for iOS and macOS",
           "Core ML models run only on Apple devices"),
    Family("AWS Lambda", ("lambda",), (),
           "TVM, for a Lambda function that runs the model with DLR (for which CPU is not documented)",
           "the local backend has no Lambda"),
    Family("32-bit x86 Linux", (), ("LINUX_X86",),
           "no documented compiler (Neo's Linux matrix lists CPU targets for X86_64, ARM64, ARM_EABIHF and ARM_EABI only)",
           "Neo documents no 32-bit x86 Linux target, and the local Neo builds 64-bit x86 only"),
    Family("undocumented Linux combination", (), ("LINUX_*",),
           "no documented compiler (Neo's Linux matrix has NVIDIA on X86_64/ARM64, Intel graphics on X86_64, "
           "Mali on ARM64/ARM_EABIHF/ARM_EABI)",
           "Neo's support matrix does not list this OS/architecture/accelerator combination"),
)


@dataclass(frozen=True)
class Target:
    """A job's target: its name as Neo spells it in the artifact's name, and its family."""

    name: str  # ml_c5, or LINUX_X86_64[_NVIDIA] for a TargetPlatform
    described: str  # "TargetDevice 'ml_c5'" / "TargetPlatform LINUX/ARM64"
    family: Family | None  # None: a valid value the table does not know yet


def platform_name(platform: dict[str, Any]) -> str:
    """TargetPlatform as Neo names its artifacts: OS_ARCH[_ACCELERATOR] (e.g. LINUX_ARM64_NVIDIA)."""
    return "_".join(filter(None, (platform.get("Os"), platform.get("Arch"), platform.get("Accelerator"))))


def family_of(name: str, *, platform: bool) -> Family | None:
    """The first family whose patterns match a TargetDevice or platform name."""
    return next((f for f in FAMILIES if any(fnmatchcase(name, p) for p in (f.platforms if platform else f.devices))),
                None)


def classify(output_config: dict[str, Any]) -> Target:
    """The target of an OutputConfig that passed `request_problem`."""
    if platform := output_config.get("TargetPlatform"):
        name = platform_name(platform)
        parts = (platform.get("Os"), platform.get("Arch"), platform.get("Accelerator"))
        return Target(name, f"TargetPlatform {'/'.join(filter(None, parts))}", family_of(name, platform=True))
    name = output_config.get("TargetDevice", "")
    return Target(name, f"TargetDevice '{name}'", family_of(name, platform=False))


# ----------------------------------------------------------------------- at CreateCompilationJob
def _enum_error(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    # The AWS JSON protocol's wording for an enum violation (the same one SageMaker uses for its
    # other constraints; compilation_service words the job-name pattern error alike).
    return (f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]")


def request_problem(output_config: dict[str, Any]) -> str | None:
    """What SageMaker refuses in OutputConfig at CreateCompilationJob (a ValidationException); None if fine.

    botocore sends any string (it checks enums only server-side), so this is where an unknown
    TargetDevice or TargetPlatform value is caught. "TargetDevice and TargetPlatform are mutually
    exclusive" is botocore's OutputConfig documentation; the wording of that refusal on AWS is
    not documented.
    """
    device, platform = output_config.get("TargetDevice"), output_config.get("TargetPlatform")
    if (device is None) == (platform is None):
        return ("OutputConfig must specify exactly one of TargetDevice or TargetPlatform: "
                "they are mutually exclusive.")
    errors = []
    if device is not None and device not in neo_target_devices():
        errors.append(_enum_error(device, "outputConfig.targetDevice", neo_target_devices()))
    for member, shape in TARGET_PLATFORM_ENUMS.items():
        value = (platform or {}).get(member)
        if value is not None and value not in sagemaker_enum(shape):
            errors.append(_enum_error(value, f"outputConfig.targetPlatform.{member[0].lower()}{member[1:]}",
                                      sagemaker_enum(shape)))
    if not errors:
        return None
    return f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: {'; '.join(errors)}"


# ----------------------------------------------------------------------- while the job runs
def local_targets() -> list[str]:
    """What the local Neo compiles, for messages: the x86-64 CPU devices and platforms."""
    cpu = FAMILIES[0]
    return [*(d for d in neo_target_devices() if family_of(d, platform=False) is cpu),
            *(f"TargetPlatform {p.replace('_', '/', 1)}" for p in cpu.platforms)]


def require_local_target(output_config: dict[str, Any]) -> Target:
    """The job's target if the local Neo compiles it, else CompilationError with the reason."""
    target = classify(output_config)
    if target.family is not None and target.family.compiles_here:
        return target
    if target.family is None:
        why = ("botocore lists it but the local Neo's table does not know it yet "
               "(add it to FAMILIES in helpers/local/neo_targets.py)")
    else:
        why = f"real Neo compiles it with {target.family.real_neo}, but {target.family.why_not_here}"
    kind = f" ({target.family.name})" if target.family else ""
    raise CompilationError(f"ClientError: OutputConfiguration: {target.described}{kind} cannot be compiled by "
                           f"the local Neo: {why}. The local Neo compiles for {', '.join(local_targets())}; "
                           "use the aws backend for this target.")
