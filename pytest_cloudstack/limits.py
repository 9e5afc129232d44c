"""AWS's hard limits that an emulator doesn't enforce: said before the deploy, not found out on AWS.

moto (and so the ``local`` target) accepts a stack of 600 resources, a 3 MB template or a
function of 400 MB unzipped; CloudFormation and Lambda refuse them. A session warns before
the deploy, so a suite that passes on an emulator doesn't first fail on AWS.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: resources in one stack (CloudFormation quota)
MAX_RESOURCES = 500
#: bytes of a template body sent by TemplateURL (CloudFormation quota: 1 MB)
MAX_TEMPLATE_BYTES = 1024 * 1024
#: bytes of a function's code, unzipped, layers included (Lambda quota: 250 MB)
MAX_UNZIPPED_CODE = 262_144_000


def limit_warnings(
    body: Mapping[str, Any], template_body: str, archives: Iterable[tuple[str, Path]]
) -> list[str]:
    """One line for each limit the packaged template or its code archives go over."""
    warnings: list[str] = []
    resources = body.get("Resources")
    count = len(resources) if isinstance(resources, Mapping) else 0
    if count > MAX_RESOURCES:
        warnings.append(
            f"the template has {count} resources: CloudFormation refuses more than "
            f"{MAX_RESOURCES} in one stack; move some into nested stacks"
        )
    size = len(template_body.encode("utf-8"))
    if size > MAX_TEMPLATE_BYTES:
        warnings.append(
            f"the template is {size:,} bytes as deployed: CloudFormation refuses more than "
            f"{MAX_TEMPLATE_BYTES:,} (1 MB); move resources into nested stacks or shorten it "
            "(Metadata, long inline code)"
        )
    for where, archive in archives:
        unzipped = _unzipped_size(archive)
        if unzipped > MAX_UNZIPPED_CODE:
            warnings.append(
                f"{where}: the code is {_mb(unzipped)} unzipped ({archive.name}): Lambda refuses "
                "more than 250 MB unzipped (layers included); leave out what the function "
                "doesn't need, or use a container image"
            )
    return warnings


def _unzipped_size(archive: Path) -> int:
    try:
        with zipfile.ZipFile(archive) as opened:
            return sum(info.file_size for info in opened.infolist())
    except (OSError, zipfile.BadZipFile):  # not ours to judge here: the deploy will say
        return 0


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
