"""The files a package ships with and the versions it claims: kept true to each other."""

from __future__ import annotations

import configparser
import re
from importlib import metadata

from conftest import REPO


def test_tox_min_env_pins_the_declared_floors() -> None:
    floors = {}
    for requirement in metadata.requires("pytest-cloudstack") or []:
        match = re.fullmatch(r"(pytest|boto3)>=([\d.]+)", requirement)
        if match:
            floors[match.group(1)] = match.group(2)
    assert set(floors) == {"pytest", "boto3"}
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    pins = {}
    for line in tox["testenv"]["deps"].splitlines():
        match = re.fullmatch(r"min: (\S+)==(\S+)", line.strip())
        if match:
            pins[match.group(1)] = match.group(2)

    def release(version: str) -> tuple[int, ...]:
        numbers = [int(part) for part in version.split(".")]
        return tuple(numbers + [0] * (3 - len(numbers)))

    assert {name: release(v) for name, v in pins.items()} == {
        name: release(v) for name, v in floors.items()
    }


def test_license_and_changelog_ship() -> None:
    assert metadata.metadata("pytest-cloudstack")["License-Expression"] == "MIT"
    assert "MIT License" in (REPO / "LICENSE").read_text()
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## [{metadata.version('pytest-cloudstack')}]" in changelog, "the version has its entry"
    pyproject = (REPO / "pyproject.toml").read_text()
    sdist = pyproject[pyproject.index("[tool.hatch.build.targets.sdist]") :]
    for name in ("LICENSE", "CHANGELOG.md", "README.md"):
        assert f'"{name}"' in sdist.split("\n[")[0]
