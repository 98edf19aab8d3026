"""Issue 8 item 4: the local Neo's targets come from botocore's service model, every valid one has
an answer, and an invalid one is refused like SageMaker refuses it (a ValidationException).

Parametrised over botocore's enums as installed, so a botocore upgrade that adds a target fails
here until FAMILIES in helpers/local/neo_targets.py sorts it in.
"""

from __future__ import annotations

import itertools

import pytest

from helpers.compiler import CompilationError
from helpers.local import neo_targets
from helpers.sagemaker_facts import MAX_FAILURE_REASON_CHARS, neo_target_devices, sagemaker_enum

DEVICES = neo_target_devices()
PLATFORMS = [{"Os": os_, "Arch": arch, **({"Accelerator": acc} if acc else {})}
             for os_, arch, acc in itertools.product(sagemaker_enum("TargetPlatformOs"), sagemaker_enum("TargetPlatformArch"),
                                                     (None, *sagemaker_enum("TargetPlatformAccelerator")))]
X86_CPU_DEVICES = {"ml_c4", "ml_c5", "ml_m4", "ml_m5", "sbe_c"}  # the edge and cloud pages: x86-64, no accelerator


def test_the_targets_are_botocores():
    assert {"ml_c5", "ml_g4dn", "rasp4b", "jetson_nano", "ml_inf1"} <= set(DEVICES)
    assert not {"ml_c6i", "ml_m6i", "ml_r5"} & set(DEVICES), "instance types that are no Neo targets"
    assert len(PLATFORMS) == 2 * 5 * 5


@pytest.mark.parametrize("device", DEVICES)
def test_every_target_device_has_a_family(device):
    family = neo_targets.family_of(device, platform=False)
    assert family is not None, f"{device}: botocore lists it, add it to neo_targets.FAMILIES"
    assert family.compiles_here == (device in X86_CPU_DEVICES)


@pytest.mark.parametrize("platform", PLATFORMS, ids=neo_targets.platform_name)
def test_every_target_platform_has_a_family(platform):
    name = neo_targets.platform_name(platform)
    family = neo_targets.family_of(name, platform=True)
    assert family is not None, f"{name}: add a pattern for it to neo_targets.FAMILIES"
    assert family.compiles_here == (name == "LINUX_X86_64")


@pytest.mark.parametrize("output_config", [{"TargetDevice": d} for d in DEVICES] + [{"TargetPlatform": p} for p in PLATFORMS],
                         ids=lambda c: c.get("TargetDevice") or neo_targets.platform_name(c["TargetPlatform"]))
def test_every_valid_target_compiles_or_says_why_not(output_config):
    """Valid targets pass submission; the job then compiles, or FAILS saying what real Neo uses and why not here."""
    assert neo_targets.request_problem(output_config) is None
    target = neo_targets.classify(output_config)
    if target.family.compiles_here:
        assert neo_targets.require_local_target(output_config) == target
        return
    with pytest.raises(CompilationError) as failure:
        neo_targets.require_local_target(output_config)
    reason = str(failure.value)
    assert reason.startswith("ClientError: OutputConfiguration: ")
    assert target.family.real_neo in reason and target.family.why_not_here in reason
    assert "ml_c5" in reason and "LINUX/X86_64" in reason and "aws backend" in reason
    assert len(reason) <= MAX_FAILURE_REASON_CHARS


@pytest.mark.parametrize(("device", "words"), [
    ("ml_g4dn", ["TensorRT", "no NVIDIA GPU"]),
    ("jetson_nano", ["TensorRT", "no NVIDIA GPU", "ARM code cannot run"]),
    ("ml_c6g", ["ARM64", "ARM code cannot run"]),
    ("rasp4b", ["ARM code cannot run"]),
    ("ml_inf1", ["Neuron compiler", "Inferentia"]),
    ("ml_trn1", ["Neuron compiler", "Trainium"]),
    ("ml_eia2", ["Elastic Inference", "discontinued"]),
    ("x86_win64", ["Windows"]),
    ("coreml", ["Core ML", "Apple"]),
])
def test_failure_reasons_name_the_compiler_and_the_obstacle(device, words):
    with pytest.raises(CompilationError) as failure:
        neo_targets.require_local_target({"TargetDevice": device})
    for word in words:
        assert word in str(failure.value)


@pytest.mark.parametrize(("output_config", "fragments"), [
    ({"TargetDevice": "ml_c6i"}, ["Value 'ml_c6i' at 'outputConfig.targetDevice'", "enum value set: [lambda, ml_m4"]),
    ({"TargetDevice": "ml_banana"}, ["1 validation error detected", "ml_banana"]),
    ({"TargetPlatform": {"Os": "WINDOWS", "Arch": "RISCV"}},
     ["2 validation errors detected", "'outputConfig.targetPlatform.os'", "[ANDROID, LINUX]", "'outputConfig.targetPlatform.arch'"]),
    ({"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64", "Accelerator": "TPU"}}, ["'outputConfig.targetPlatform.accelerator'"]),
    ({"TargetDevice": "ml_c5", "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}, ["mutually exclusive"]),
    ({}, ["exactly one of TargetDevice or TargetPlatform"]),
])
def test_an_invalid_target_is_refused_at_submission_like_sagemaker(output_config, fragments):
    problem = neo_targets.request_problem(output_config)
    for fragment in fragments:
        assert fragment in problem


def test_artifact_names_follow_neo():
    assert neo_targets.classify({"TargetDevice": "ml_m5"}).name == "ml_m5"
    platform = neo_targets.classify({"TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"}})
    assert (platform.name, platform.described) == ("LINUX_ARM64_NVIDIA", "TargetPlatform LINUX/ARM64/NVIDIA")
