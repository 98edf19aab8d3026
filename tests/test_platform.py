"""Which TargetPlatform notebook 04 compiles for, on this machine and on faked ones (issue 20, item 4)."""

from __future__ import annotations

import platform

import pytest

from helpers import machine

SAGEMAKER_OS = ["ANDROID", "LINUX"]
SAGEMAKER_ARCH = ["X86_64", "X86", "ARM64", "ARM_EABI", "ARM_EABIHF"]


def botocore_enums() -> tuple[list[str], list[str]]:
    """TargetPlatformOs and TargetPlatformArch as the installed botocore's service model has them."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.shape_for("TargetPlatformOs").enum, model.shape_for("TargetPlatformArch").enum


def test_the_enums_used_here_are_botocore_s():
    os_values, arch_values = botocore_enums()
    assert set(SAGEMAKER_OS) <= set(os_values) and set(SAGEMAKER_ARCH) <= set(arch_values)
    assert "DARWIN" not in os_values and "WINDOWS" not in os_values  # so macOS and Windows get no target


def test_the_real_kernel_is_detected(monkeypatch):
    monkeypatch.delenv(machine.FAKE_PLATFORM_ENV, raising=False)
    plat = machine.this_platform()
    assert plat.os == platform.system().lower() and not plat.faked
    assert plat.arch in machine.NEO_ARCH or plat.arch == platform.machine().lower()


@pytest.mark.parametrize(("fake", "target"), [
    ("linux-x86_64", {"Os": "LINUX", "Arch": "X86_64"}), ("linux-arm64", {"Os": "LINUX", "Arch": "ARM64"}),
    ("linux-aarch64", {"Os": "LINUX", "Arch": "ARM64"}), ("darwin-arm64", None), ("windows-x86_64", None),
    ("windows-amd64", None), ("darwin-x86_64", None)])
def test_a_faked_platform_maps_to_neo_s_target_where_it_has_one(monkeypatch, fake, target):
    monkeypatch.setenv(machine.FAKE_PLATFORM_ENV, fake)
    plat = machine.this_platform()
    assert plat.faked and fake.split("-")[0] in plat.label.lower().replace("macos", "darwin")
    assert machine.neo_target_platform(plat, *botocore_enums()) == target


@pytest.mark.parametrize("fake", ["darwin-arm64", "windows-x86_64"])
@pytest.mark.parametrize("local_neo", [False, True])
def test_macos_and_windows_compile_anyway_and_say_where_the_result_runs(monkeypatch, fake, local_neo):
    monkeypatch.setenv(machine.FAKE_PLATFORM_ENV, fake)
    choice = machine.choose_target_platform(*botocore_enums(), local_neo=local_neo)
    assert choice.target == {"Os": "LINUX", "Arch": "X86_64"} and not choice.runs_here
    assert choice.compiler_options == {}  # no mcpu: the CPU it will run on is not this one
    assert "Neo has no TargetPlatform for" in choice.note and "This machine cannot run the result" in choice.note
    assert "SageMaker Studio" in choice.note and "Notebook 05 goes on without" in choice.note


def test_arm_linux_gets_linux_arm64_on_aws_and_a_clear_note_on_local(monkeypatch):
    monkeypatch.setenv(machine.FAKE_PLATFORM_ENV, "linux-arm64")
    on_aws = machine.choose_target_platform(*botocore_enums())
    assert on_aws.target == {"Os": "LINUX", "Arch": "ARM64"} and on_aws.runs_here
    if platform.machine().lower() not in ("aarch64", "arm64"):
        assert on_aws.compiler_options == {}  # this x86 CPU's name would be wrong for ARM code
    on_local = machine.choose_target_platform(*botocore_enums(), local_neo=True)
    assert on_local.target == {"Os": "LINUX", "Arch": "X86_64"} and not on_local.runs_here
    assert "the local Neo compiles for TargetPlatform LINUX/X86_64 only" in on_local.note


def test_this_linux_x86_64_machine_runs_its_own_target_with_its_mcpu(monkeypatch):
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        pytest.skip("needs a Linux x86-64 kernel")
    monkeypatch.delenv(machine.FAKE_PLATFORM_ENV, raising=False)
    for local_neo in (False, True):
        choice = machine.choose_target_platform(*botocore_enums(), local_neo=local_neo)
        assert choice.runs_here and choice.target == {"Os": "LINUX", "Arch": "X86_64"}
        assert choice.compiler_options == {"mcpu": machine.llvm_cpu_name()}


def test_a_malformed_fake_says_how_to_write_it(monkeypatch):
    monkeypatch.setenv(machine.FAKE_PLATFORM_ENV, "macos")
    with pytest.raises(ValueError, match="OS-ARCH.*darwin-arm64"):
        machine.this_platform()


def test_the_local_neo_platform_is_the_one_its_target_table_compiles():
    from helpers.local import neo_targets

    name = neo_targets.platform_name(machine.LOCAL_NEO_PLATFORM)
    family = neo_targets.family_of(name, platform=True)
    assert family is not None and family.compiles_here
    assert all(not f.compiles_here or f.platforms == (name,) for f in neo_targets.FAMILIES if name in f.platforms)
