"""Deterministic zips and the folder walk behind them: pure functions, no cloud."""

from __future__ import annotations

import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from pytest_cloudstack.packaging import zips
from pytest_cloudstack.packaging.dependencies import pip_command, platforms
from pytest_cloudstack.packaging.errors import PackagingError


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _zip_bytes(folder: Path, out: Path) -> bytes:
    zips.write_zip(zips.collect(folder, folder.resolve()), out)
    return out.read_bytes()


FILES = {"app.py": "print('hi')\n", "lib/util.py": "X = 1\n", "lib/data.json": "{}"}


def test_same_sources_give_the_same_bytes_whatever_the_order_and_mtimes(tmp_path: Path) -> None:
    first = _tree(tmp_path / "a", FILES)
    # The same files created in the opposite order, with other timestamps.
    second = _tree(tmp_path / "b", dict(reversed(list(FILES.items()))))
    old = time.time() - 86_400 * 400
    for path in second.rglob("*"):
        os.utime(path, (old, old))
    one = _zip_bytes(first, tmp_path / "one.zip")
    two = _zip_bytes(second, tmp_path / "two.zip")
    assert one == two
    assert zips.fingerprint(zips.collect(first, first)) == zips.fingerprint(
        zips.collect(second, second)
    )


def test_a_changed_byte_changes_the_zip(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "src", FILES)
    before = _zip_bytes(folder, tmp_path / "before.zip")
    (folder / "lib" / "util.py").write_text("X = 2\n")
    assert _zip_bytes(folder, tmp_path / "after.zip") != before


def test_entries_are_sorted_dated_1980_and_only_0644_or_0755(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "src", {**FILES, "bootstrap": "#!/bin/sh\n"})
    (folder / "bootstrap").chmod(0o700)
    (folder / "app.py").chmod(0o600)
    zips.write_zip(zips.collect(folder, folder), tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["app.py", "bootstrap", "lib/data.json", "lib/util.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
    assert modes == {
        "app.py": 0o644,
        "bootstrap": 0o755,
        "lib/data.json": 0o644,
        "lib/util.py": 0o644,
    }


def test_byte_code_and_tool_folders_are_left_out(tmp_path: Path) -> None:
    folder = _tree(
        tmp_path / "src",
        {
            "app.py": "",
            "app.pyc": "",
            "__pycache__/app.cpython-312.pyc": "",
            ".git/HEAD": "ref",
            "pkg/__pycache__/x.pyc": "",
            "pkg/mod.py": "",
            ".pytest_cache/v": "",
        },
    )
    assert [e.name for e in zips.collect(folder, folder)] == ["app.py", "pkg/mod.py"]


def test_symlinks_inside_the_project_are_followed(tmp_path: Path) -> None:
    project = _tree(tmp_path, {"shared/common.py": "C = 1\n", "fn/app.py": ""})
    (project / "fn" / "common.py").symlink_to(project / "shared" / "common.py")
    (project / "fn" / "shared").symlink_to(project / "shared")
    names = [e.name for e in zips.collect(project / "fn", project)]
    assert names == ["app.py", "common.py", "shared/common.py"]


def test_a_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "fn", {"app.py": ""})
    (folder / "again").symlink_to(folder)
    with pytest.raises(PackagingError, match="symlink loop"):
        zips.collect(folder, tmp_path)


def test_a_self_referencing_symlink_is_an_error(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "fn", {"app.py": ""})
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    with pytest.raises(PackagingError, match="broken or part of a symlink loop"):
        zips.collect(folder, tmp_path)


def test_a_symlink_out_of_the_project_is_an_error(tmp_path: Path) -> None:
    outside = _tree(tmp_path / "outside", {"secret.txt": "x"})
    folder = _tree(tmp_path / "project" / "fn", {"app.py": ""})
    (folder / "secret.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(PackagingError, match="points outside the project"):
        zips.collect(folder, (tmp_path / "project").resolve())


def test_the_zip_cache_reuses_an_identical_build(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "src", FILES)
    first = zips.cached_zip(zips.collect(folder, folder), tmp_path / "cache")
    mtime = first.stat().st_mtime_ns
    again = zips.cached_zip(zips.collect(folder, folder), tmp_path / "cache")
    assert again == first and again.stat().st_mtime_ns == mtime


def test_pip_targets_lambdas_platform_not_the_hosts(tmp_path: Path) -> None:
    command = pip_command(tmp_path / "requirements.txt", tmp_path / "t", (3, 12), "arm64")
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command
    tags = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-1] == "manylinux2014_aarch64"
    # Amazon Linux 2 runtimes have an older glibc: no wheel newer than 2.26.
    assert platforms((3, 11), "x86_64")[0] == "manylinux_2_26_x86_64"
