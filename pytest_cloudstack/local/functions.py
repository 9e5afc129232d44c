"""What to run: the parts of moto's ``LambdaFunction`` that define an execution environment.

``function_spec`` reads moto's model once per invocation into a frozen ``FunctionSpec``; the
runner compares specs to tell whether its warm environments still match the function (new code
or configuration means new environments, as on Lambda). The other readers here take what the
runner needs from the same model: the deployment package and the asynchronous retry count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: retries of a failed asynchronous invocation when the function has no EventInvokeConfig
DEFAULT_ASYNC_RETRIES = 2


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that defines one execution environment of one function version."""

    account_id: str
    region: str
    name: str
    arn: str
    version: str
    runtime: str
    handler: str
    timeout: float
    memory_mb: int
    environment: tuple[tuple[str, str], ...]
    code_sha: str
    layers: tuple[str, ...]
    package_type: str
    log_group: str

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.name, self.version)

    @property
    def python_version(self) -> tuple[int, int] | None:
        prefix = "python"
        if self.package_type != "Zip" or not self.runtime.startswith(prefix):
            return None
        major, _, minor = self.runtime[len(prefix) :].partition(".")
        if not (major.isdigit() and minor.isdigit()):
            return None
        return int(major), int(minor)


def function_spec(function: Any) -> FunctionSpec:
    """The parts of moto's ``LambdaFunction`` that define an execution environment."""
    layers = [layer["Arn"] for layer in (function.layers or [])]
    for layer in getattr(function, "_cloudstack_layers", None) or ():
        arn = getattr(layer, "arn", layer)  # a !Ref to a LayerVersion is the model in moto
        if isinstance(arn, str) and arn not in layers:
            layers.append(arn)
    return FunctionSpec(
        account_id=function.account_id,
        region=function.region,
        name=function.function_name,
        arn=function.function_arn,
        version=str(function.version),
        runtime=function.run_time or "",
        handler=function.handler or "",
        timeout=float(function.timeout or 3),
        memory_mb=int(function.memory_size or 128),
        environment=tuple(
            sorted((str(k), str(v)) for k, v in (function.environment_vars or {}).items())
        ),
        code_sha=str(getattr(function, "code_sha_256", "") or "none"),
        layers=tuple(layers),
        package_type=function.package_type or "Zip",
        log_group=function.logs_group_name,
    )


def code_bytes(function: Any) -> bytes:
    return bytes(getattr(function, "code_bytes", b"") or b"")


def async_retries(function: Any) -> int:
    for config in getattr(function, "event_invoke_config", None) or ():
        value = getattr(config, "config", {}).get("MaximumRetryAttempts")
        if value is not None:
            return int(value)
    return DEFAULT_ASYNC_RETRIES
