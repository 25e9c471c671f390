"""What an Apertium pair runs is read once per state of its mode file, PATH and dpkg's database,
and follows each of them when it changes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipeline.translate import EngineFailure
from pipeline.translate import apertium
from pipeline.translate.engine import stages


def _script(folder: Path, name: str) -> Path:
    script = folder / name
    script.write_text("#!/bin/sh\ncat\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_stages_follow_the_mode_file_and_path(tmp_path, monkeypatch):
    (tmp_path / "modes").mkdir()
    monkeypatch.setenv("APERTIUM_DATADIR", str(tmp_path))
    mode = tmp_path / "modes" / "fr-es.mode"
    first, second = _script(tmp_path, "stage-one"), _script(tmp_path, "stage-two")
    mode.write_text(f"'{first}' a | '{second}' $1\n")
    assert stages("fr-es") == [[str(first), "a"], [str(second), "-g"]]
    assert stages("fr-es", marks=False) == [[str(first), "a"], [str(second), "-n"]]
    stages("fr-es")[0].append("x")  # a caller's list is its own
    assert stages("fr-es") == [[str(first), "a"], [str(second), "-g"]]

    mode.write_text(f"'{second}' b\n")
    os.utime(mode, ns=(1, 1))
    assert stages("fr-es") == [[str(second), "b"]]

    # a program named without a path is looked up on PATH as it is now
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir, "fake-lt-proc")
    mode.write_text("fake-lt-proc -w\n")
    os.utime(mode, ns=(2, 2))
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    with pytest.raises(EngineFailure, match="not on PATH"):
        stages("fr-es")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert stages("fr-es") == [[str(bin_dir / "fake-lt-proc"), "-w"]]


def test_apertium_version_is_asked_again_when_dpkg_changes(tmp_path, monkeypatch):
    status = tmp_path / "status"
    status.write_text("one")
    monkeypatch.setattr(apertium, "_DPKG_STATUS", str(status))
    asked: list[str] = []

    class _Done:
        returncode = 0

        def __init__(self, version: str) -> None:
            self.stdout = version

    def fake_run(argv, **_kwargs):
        asked.append(argv[0])
        return _Done(f"{len(asked)}.0")

    monkeypatch.setattr(apertium.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(apertium.subprocess, "run", fake_run)
    apertium._dpkg_version.cache_clear()
    assert apertium.apertium_version() == "1.0"
    assert apertium.apertium_version() == "1.0" and len(asked) == 1
    status.write_text("two, longer")  # apt installed or removed something
    assert apertium.apertium_version() == "2.0"
    apertium._dpkg_version.cache_clear()
