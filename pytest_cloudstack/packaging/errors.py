"""The one error packaging raises: what is wrong, where (template, resource, property), what to do."""

from __future__ import annotations

from pathlib import Path

from pytest_cloudstack.errors import CloudStackError


class PackagingError(CloudStackError):
    """A local artifact, a SAM/CDK input or the artifact bucket is unusable; the stack is untouched.

    ``where`` names the place in the template (``resource Fn (AWS::Lambda::Function), property
    Code``) when there is one; ``path`` is the template (or manifest) the problem was found in.
    """

    def __init__(self, message: str, where: str | None = None, path: Path | None = None) -> None:
        self.message = message
        self.where = where
        self.path = path
        prefix = f"{path}: " if path is not None else ""
        located = f"{where}: " if where else ""
        super().__init__(f"{prefix}{located}{message}")
