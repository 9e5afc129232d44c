"""Deterministic zips: the same sources give the same bytes, hence the same content hash.

What makes two zips of the same folder differ is everything but the content: the order the
filesystem lists entries in, timestamps, permission bits, the creating system, directory
entries. Here entries are sorted by their archive name, every timestamp is 1980-01-01 (the
earliest a zip can hold), permissions are reduced to 0644 or 0755 (only "executable" matters
to Lambda, for ``bootstrap`` files and the like), and directories get no entries of their own.

Files that never belong in a deployment package (byte code, VCS and tool folders) are left out.
Symlinks are followed, as ``sam build`` does, but a link that leaves the project or loops is an
error: following either would package something the user never meant to ship, or never end.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_cloudstack.packaging.errors import PackagingError

#: folder and file names never packaged, wherever they appear
EXCLUDED_NAMES = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".DS_Store",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".aws-sam",
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of an archive: its name inside the zip, where it is read from, and its mode."""

    name: str
    source: Path
    executable: bool


def excluded(name: str) -> bool:
    """Whether a file or folder of this name is left out of packages."""
    return name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES)


def is_inside(path: Path, folder: Path) -> bool:
    """Whether the resolved ``path`` is ``folder`` or below it."""
    return path == folder or folder in path.parents


def collect(folder: Path, boundary: Path, prefix: str = "") -> list[Entry]:
    """Every file under ``folder`` to package, sorted by archive name.

    ``boundary`` is the resolved project folder: a symlink that resolves outside it is an error,
    as is a symlink loop. Raises :class:`PackagingError` (without a location: the caller adds it).
    """
    entries: list[Entry] = []
    root = folder.resolve()
    _walk(root, prefix, boundary, {root}, entries, folder)
    entries.sort(key=lambda entry: entry.name)
    return entries


def _walk(
    directory: Path,
    prefix: str,
    boundary: Path,
    active: set[Path],
    out: list[Entry],
    shown: Path,
) -> None:
    try:
        children = sorted(os.scandir(directory), key=lambda child: child.name)
    except OSError as error:
        raise PackagingError(f"cannot read folder {shown}: {error.strerror or error}") from None
    for child in children:
        if excluded(child.name):
            continue
        name = f"{prefix}{child.name}"
        path = Path(child.path)
        if child.is_symlink():
            target = Path(os.path.realpath(path))
            if not target.exists():
                # realpath stops resolving at a loop, so a looping link looks dangling here.
                raise PackagingError(
                    f"symlink {shown / child.name} is broken or part of a symlink loop"
                )
            if not is_inside(target, boundary):
                raise PackagingError(
                    f"symlink {shown / child.name} points outside the project ({target}); "
                    f"only files under {boundary} are packaged"
                )
            if target.is_dir():
                # `active` holds every folder on the way down: meeting one again is a loop.
                if target in active:
                    raise PackagingError(
                        f"symlink loop: {shown / child.name} points back to {target}"
                    )
                _walk(target, f"{name}/", boundary, active | {target}, out, shown / child.name)
                continue
            out.append(Entry(name, target, _executable(target)))
        elif child.is_dir(follow_symlinks=False):
            real = directory / child.name  # `directory` is resolved and this is no link
            _walk(real, f"{name}/", boundary, active | {real}, out, shown / child.name)
        elif child.is_file(follow_symlinks=False):
            out.append(Entry(name, path, _executable(path)))
        # sockets, fifos and devices have no place in a deployment package: skipped


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def fingerprint(entries: Sequence[Entry], salt: str = "") -> str:
    """SHA-256 of the archive's inputs (names, modes, contents): equal inputs, equal zips.

    It costs a read of every file, much less than compressing them: a cache keyed by it skips
    the zipping of an unchanged folder.
    """
    digest = hashlib.sha256(salt.encode())
    for entry in entries:
        digest.update(f"\0{entry.name}\0{int(entry.executable)}\0".encode())
        with entry.source.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def write_zip(entries: Iterable[Entry], destination: Path) -> None:
    """Write the deterministic zip of ``entries`` to ``destination`` (atomically)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for entry in entries:
                info = zipfile.ZipInfo(entry.name, date_time=FIXED_DATE)
                info.create_system = 3  # Unix: the mode bits below are read by Lambda
                mode = 0o755 if entry.executable else 0o644
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with entry.source.open("rb") as source, archive.open(info, "w") as target:
                    while chunk := source.read(_CHUNK):
                        target.write(chunk)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes: the content hash an artifact's key is made of."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cached_zip(
    entries: Sequence[Entry],
    cache: Path,
    salt: str = "",
    key_entries: Sequence[Entry] | None = None,
) -> Path:
    """The zip of ``entries`` from ``cache``, written there first if these inputs are new.

    The cache key is the :func:`fingerprint` of ``key_entries`` (default: all of them) and
    ``salt``: a caller whose other entries are immutable (an installed-dependencies folder named
    by its hash) passes only the rest, and that hash as the salt.
    """
    key = fingerprint(entries if key_entries is None else key_entries, salt)
    path = cache / "zips" / f"{key}.zip"
    if not path.is_file():
        write_zip(entries, path)
    return path
