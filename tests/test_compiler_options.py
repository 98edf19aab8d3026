"""Issue 8 item 5: the local Neo takes Neo's documented CompilerOptions (mcpu, mattr, dtype...),
keeps `precision_mode` as a labelled local-only option, and refuses unknown keys by name."""

from __future__ import annotations

import json

import pytest

from helpers import machine
from helpers.compiler import CompilationError
from helpers.local.compiler_options import parse_compiler_options
from helpers.sagemaker_facts import LOCAL_ONLY_COMPILER_OPTIONS, NEO_COMPILER_OPTIONS

AVX2_ONLY = frozenset({"sse", "sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "avx2", "fma", "f16c",
                       "bmi1", "bmi2", "movbe", "abm", "aes", "pclmulqdq"})


@pytest.fixture
def avx2_machine(monkeypatch):
    """A CPU with AVX2 and no AVX-512, whatever this machine has."""
    monkeypatch.setattr(machine, "cpu_features", lambda: AVX2_ONLY)


def options(**given) -> str:
    return json.dumps(given)


def test_precision_mode_is_local_only_and_no_neo_option():
    assert "precision_mode" in LOCAL_ONLY_COMPILER_OPTIONS and "precision_mode" not in NEO_COMPILER_OPTIONS
    parsed = parse_compiler_options(options(precision_mode="fp32"))
    assert parsed.precision == "fp32" and parsed.neo == {}
    meta = parsed.meta()
    assert meta["local_only_options"] == {"precision_mode": "fp32"}
    assert "local-only" in meta["compiler_option_notes"][0] and "compiler_options" not in meta


def test_no_options_record_nothing():
    assert parse_compiler_options(None).meta() == {} and parse_compiler_options("").precision == "fp32"


def test_mcpu_of_a_cpu_this_machine_runs_is_recorded(avx2_machine):
    parsed = parse_compiler_options(options(mcpu="core-avx2"))
    assert parsed.meta()["compiler_options"] == {"mcpu": "core-avx2"}
    assert "this CPU runs code built for core-avx2" in parsed.notes[0]


def test_mcpu_of_a_bigger_cpu_says_a_real_artifact_would_not_run_here(avx2_machine):
    note = parse_compiler_options(options(mcpu="skylake-avx512")).notes[0]
    assert "this CPU lacks" in note and "avx512f" in note and "illegal instruction" in note
    assert "Recorded as target_cpu" in note


@pytest.mark.parametrize(("given", "fragments"), [
    (options(mcpu="cortex-a72"), ["mcpu 'cortex-a72' is not an x86-64 CPU LLVM knows", "skylake-avx512"]),
    (options(mcpu="skylake_avx512"), ["not an x86-64 CPU"]),
    (options(mpcu="skylake-avx512"), ["unknown option 'mpcu'", "mcpu", "precision_mode (local-only)"]),
    (options(mattr="avx2"), ["mattr 'avx2' must be a list of +feature/-feature strings"]),
    (options(dtype="int64"), ["dtype 'int64'", "float32 inputs only"]),
    (options(DTYPE="float16"), ["DTYPE 'float16' is not a Neo input type"]),
    (options(precision_mode="fp16"), ["precision_mode 'fp16' is not supported"]),
    ('"--verbose 1 --num-neuroncores 2"', ["must be a JSON object", "Inferentia"]),
    ("mcpu=skylake-avx512", ["CompilerOptions is not valid JSON"]),
])
def test_bad_options_fail_naming_the_problem(given, fragments):
    with pytest.raises(CompilationError) as failure:
        parse_compiler_options(given)
    assert str(failure.value).startswith("ClientError: CompilerOptions")
    for fragment in fragments:
        assert fragment in str(failure.value)


def test_mattr_names_the_features_this_cpu_lacks(avx2_machine):
    note = parse_compiler_options(options(mattr=["+avx2", "+fma", "+avx512f", "-sse4.1"])).notes[0]
    assert "lacks +avx512f" in note and "+avx2" not in note.split("lacks")[1]
    comma_string = parse_compiler_options(options(mattr="+avx2,+sse4.1")).notes[0]
    assert "every +feature" in comma_string


def test_options_of_other_target_families_are_ignored_and_said_so():
    parsed = parse_compiler_options(options(**{"gpu-code": "sm_75", "ANDROID_PLATFORM": 28, "dtype": "float32"}))
    assert set(parsed.neo) == {"gpu-code", "ANDROID_PLATFORM", "dtype"}
    notes = " | ".join(parsed.notes)
    assert "gpu-code: ignored, a Neo option for NVIDIA targets" in notes
    assert "ANDROID_PLATFORM: ignored" in notes and "dtype float32" in notes


def test_llvm_cpu_names_come_from_archspec():
    cpus = machine.llvm_x86_cpus()
    assert {"skylake-avx512", "cascadelake", "znver3", "x86-64-v3", "core-avx2"} <= set(cpus)
    assert cpus["core-avx2"] == cpus["haswell"] and "avx2" in cpus["haswell"]
    assert "avx512f" in cpus["skylake-avx512"] and "avx512f" not in cpus["haswell"]


def test_this_machine_has_an_llvm_name_whose_code_it_runs():
    name = machine.llvm_cpu_name()
    if name not in machine.llvm_x86_cpus():
        pytest.skip(f"not an x86-64 machine ({name})")
    assert machine.missing_cpu_features(name) == []
