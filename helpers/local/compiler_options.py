"""CompilerOptions on the local Neo: Neo's documented keys, the local-only `precision_mode`, nothing else.

Real Neo takes a JSON object whose keys depend on the target (botocore's OutputConfig.
CompilerOptions documentation, `sagemaker_facts.NEO_COMPILER_OPTIONS`): `mcpu` and `mattr` for
CPUs, `dtype` for PyTorch on ml_*, `gpu-code`/`trt-ver`/`cuda-ver` for NVIDIA, `ANDROID_PLATFORM`
for Android; for Inferentia a JSON *string* of neuron-cc flags. The local Neo compiles x86-64 CPU
targets only, with OpenVINO, which generates the machine code when the model is *loaded*, for the
CPU it is loaded on. So it does this with each key (all of it recorded in compiled.meta):

- `mcpu`: must be an x86-64 CPU LLVM knows (`machine.llvm_x86_cpus`, archspec's database). It
  becomes the artifact's `target_cpu` (helpers/target_cpus.py): the runtime caps the instruction
  set at that CPU's, and an artifact for a CPU with instructions this one lacks refuses to load
  (a real Neo artifact would stop with "illegal instruction"); the note says which case it is.
- `mattr`: `+feature`/`-feature` strings (a list, or one comma-separated string); the meta
  names the +features this CPU lacks.
- `dtype`/`DTYPE`: float32 (or float) only; int64/long is refused (the local Neo feeds float32).
- Neo keys for other target families (`gpu-code`, `ANDROID_PLATFORM`...): recorded as ignored.
- `precision_mode` (fp32 | bf16): the local Neo's own option, labelled local-only in the meta;
  `helpers.preflight.check_compiler_options` refuses to send it to real Neo.
- Any other key: the job FAILS naming it. What real Neo does with an unknown key is not
  documented; refusing here catches a typo ("mpcu") that would otherwise silently do nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from helpers import machine
from helpers.compiler import CompilationError, check_precision
from helpers.sagemaker_facts import LOCAL_ONLY_COMPILER_OPTIONS, NEO_COMPILER_OPTIONS

CPU_OPTIONS = ("mcpu", "mattr", "dtype", "DTYPE")
FLOAT32 = ("float32", "float")  # botocore's doc: float32 is "float" or "float32"; int64 is "int64" or "long"
INT64 = ("int64", "long")
FEATURE_ALIASES = {"bmi": "bmi1", "lzcnt": "abm"}  # LLVM feature name -> archspec's (= /proc/cpuinfo's)


def _error(message: str) -> CompilationError:
    return CompilationError(f"ClientError: CompilerOptions: {message}")


@dataclass
class LocalOptions:
    """What a job's CompilerOptions asked for, and what the local Neo made of each key."""

    precision: str = "fp32"
    neo: dict[str, Any] = field(default_factory=dict)  # Neo's documented keys, as given
    local_only: dict[str, Any] = field(default_factory=dict)  # keys real Neo does not have
    notes: list[str] = field(default_factory=list)  # what the local Neo did with each key

    def meta(self) -> dict[str, Any]:
        """The compiled.meta fields for these options (none when no options were given)."""
        fields: dict[str, Any] = {}
        if self.neo:
            fields["compiler_options"] = self.neo
        if self.local_only:
            fields["local_only_options"] = self.local_only
        if self.notes:
            fields["compiler_option_notes"] = self.notes
        return fields


def parse_compiler_options(text: str | None) -> LocalOptions:
    """Read a job's CompilerOptions for an x86-64 CPU target; CompilationError names what is wrong."""
    options = LocalOptions()
    if not text:
        return options
    try:
        given = json.loads(text)
    except ValueError as exc:
        raise CompilationError(f"ClientError: CompilerOptions is not valid JSON ({exc}): write e.g. "
                               '{"mcpu": "skylake-avx512"}.') from exc
    if not isinstance(given, dict):
        raise _error(f"{text} must be a JSON object of options (a bare JSON string is Inferentia's form, "
                     'for ml_inf targets): write e.g. {"mcpu": "skylake-avx512"}.')
    for key, value in given.items():
        if key in LOCAL_ONLY_COMPILER_OPTIONS:
            options.local_only[key] = value
        elif key in NEO_COMPILER_OPTIONS:
            options.neo[key] = value
        else:
            raise _error(f"unknown option {key!r}: Neo's options are {', '.join(NEO_COMPILER_OPTIONS)} "
                         f"(CPU targets take {', '.join(CPU_OPTIONS)}); the local Neo also takes "
                         f"{', '.join(LOCAL_ONLY_COMPILER_OPTIONS)} (local-only).")
    for key, value in options.neo.items():
        options.notes.append(_apply(key, value))
    if "precision_mode" in options.local_only:
        options.precision = str(options.local_only["precision_mode"])
        check_precision(options.precision)
        options.notes.append(f"precision_mode {options.precision}: a local-only option (real Neo has no such "
                             "key): the local runtime's inference precision")
    return options


def _apply(key: str, value: Any) -> str:
    """Check one documented Neo option for an x86-64 CPU target; say what the local Neo does with it."""
    if key == "mcpu":
        return _mcpu(value)
    if key == "mattr":
        return _mattr(value)
    if key in ("dtype", "DTYPE"):
        if str(value).lower() in FLOAT32:
            return f"{key} {value}: the inputs are float32, as the local Neo compiles them"
        if str(value).lower() in INT64:
            raise _error(f"{key} {value!r}: the local Neo compiles float32 inputs only (image models); "
                         "use the aws backend for int64 inputs.")
        raise _error(f"{key} {value!r} is not a Neo input type: use float32 (or float), or int64 (or long).")
    return f"{key}: ignored, a Neo option for {NEO_COMPILER_OPTIONS[key][0]}, not for an x86-64 CPU target"


def _mcpu(value: Any) -> str:
    cpus = machine.llvm_x86_cpus()
    if not isinstance(value, str) or value not in cpus:
        examples = ", ".join(n for n in ("skylake-avx512", "cascadelake", "core-avx2", "znver3", "x86-64-v3") if n in cpus)
        raise _error(f"mcpu {value!r} is not an x86-64 CPU LLVM knows: use e.g. {examples}, or "
                     f"{machine.llvm_cpu_name()} (this machine).")
    missing = machine.missing_cpu_features(value)
    runs = (f"this CPU lacks {', '.join(missing)}, so code real Neo builds for {value} would stop here with an "
            "illegal instruction, and this artifact refuses to load here" if missing else f"this CPU runs code built for {value}")
    return (f"mcpu {value}: {runs}. Recorded as target_cpu: the local artifact gets its machine code when it is loaded, "
            f"capped at the instruction set of {value}")


def _mattr(value: Any) -> str:
    features = [f.strip() for f in value.split(",")] if isinstance(value, str) else value
    if not isinstance(features, list) or not all(isinstance(f, str) and f[:1] in "+-" and len(f) > 1 for f in features):
        raise _error(f"mattr {value!r} must be a list of +feature/-feature strings, e.g. ['+avx2', '+fma'].")
    have = {f.replace("_", "") for f in machine.cpu_features()}
    lacking = [f for f in features if f[0] == "+"
               and FEATURE_ALIASES.get(f[1:].lower(), f[1:].lower()).replace(".", "").replace("-", "").replace("_", "")
               not in have]
    found = f"this CPU lacks {', '.join(lacking)}" if lacking else "this CPU has every +feature"
    return f"mattr {features}: {found}. Recorded only (the instruction-set cap follows mcpu)"
