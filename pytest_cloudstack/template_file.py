"""Reading a template file safely: a regular file, bounded in size, before anything parses it.

Templates are read at configure time of every run (the generated fixtures need the resource
list), also without ``--cloud-stack``: a FIFO must not hang pytest and ``/dev/zero`` must not eat
the memory. Kept apart from ``template.py`` because that module imports PyYAML, which the cached
path of the generated fixtures never pays for.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pytest_cloudstack.errors import TemplateError

#: CloudFormation accepts templates of up to 1 MB (through S3); a source file may be up to twice
#: that (comments, indentation of pretty-printed JSON) before it is refused unread.
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_template_bytes(path: Path) -> bytes:
    """The bytes of the template file ``path``: a regular file of at most ``MAX_TEMPLATE_BYTES``.

    Raises :class:`TemplateError` naming the file otherwise; never blocks on a FIFO or a device.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise TemplateError(
            "template file not found: pass --cloud-stack-template PATH"
            " or set the ini key cloud_stack_template",
            path,
        ) from None
    except OSError as exc:
        raise TemplateError(f"cannot read template: {exc.strerror or exc}", path) from None
    if not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        raise TemplateError(
            f"template path is {kind}, not a regular file: point --cloud-stack-template (or ini "
            "cloud_stack_template) at the template file",
            path,
        )
    if info.st_size > MAX_TEMPLATE_BYTES:
        raise TemplateError(_too_big(info.st_size), path)
    try:
        # O_NONBLOCK: should the path become a FIFO between stat and open, open must not wait.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as stream:
            data = stream.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"cannot read template: {exc.strerror or exc}", path) from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError(_too_big(len(data)), path)
    return data


def _too_big(size: int) -> str:
    return (
        f"template file is {size:,} bytes, over the {MAX_TEMPLATE_BYTES:,} bytes this plugin "
        "reads (CloudFormation itself accepts at most 1 MB): is this the right file?"
    )
