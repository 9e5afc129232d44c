"""boto3 sessions and clients bound to the target: real AWS, the local emulator, or an endpoint.

A ``Connection`` is plain data (it travels to pytest-xdist workers) that makes sessions on demand.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_cloudstack.errors import ConfigurationError
from pytest_cloudstack.settings import Settings, TargetKind

if TYPE_CHECKING:
    import boto3

    from pytest_cloudstack.calls import CallGuard

# Emulators accept any credentials; these are only used where the standard chain finds none.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
EMULATOR_REGION = "us-east-1"
# botocore waits 60 s to connect; an endpoint that does not take a connection in 10 s is down.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

SessionHook = Callable[["boto3.session.Session"], None]


@dataclass(frozen=True)
class Connection:
    """Where to talk: ``endpoint_url`` is None for real AWS."""

    target: str
    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    on_session: SessionHook | None = field(default=None, compare=False, repr=False)
    #: the run's calls go through it (bounded, reported when slow); tests' handles do not
    guard: CallGuard | None = field(default=None, compare=False, repr=False)

    @property
    def is_emulator(self) -> bool:
        return self.endpoint_url is not None

    def session(self) -> boto3.session.Session:
        """A new boto3 Session for the target (dummy credentials on an emulator that needs them)."""
        import boto3

        core = _botocore_session()
        session = boto3.session.Session(
            botocore_session=core, profile_name=self.profile, region_name=self.region
        )
        if self.is_emulator and session.get_credentials() is None:
            core = _botocore_session()
            session = boto3.session.Session(
                botocore_session=core,
                aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
                aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
                region_name=self.region,
            )
        _drop_repeated_search_paths(core)
        if self.on_session is not None:
            self.on_session(session)
        return session

    def client(self, service: str, session: boto3.session.Session | None = None) -> Any:
        """A client with the ``standard`` retry mode and connect/read timeouts, pointed at the
        target's endpoint (and going through the run's ``guard`` when there is one)."""
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        # The embedded emulator is ours, on this machine: a refused connection means it is gone,
        # and retrying for half a minute only hides that.
        attempts = 2 if self.target == "local" else 8
        config = Config(
            retries={"mode": "standard", "max_attempts": attempts},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            user_agent_extra="pytest-cloudstack",
        )
        chosen: Any = session or self.session()  # Any: boto3-stubs overloads need a literal name
        try:
            client = chosen.client(service, endpoint_url=self.endpoint_url, config=config)
        except (BotoCoreError, ValueError) as error:  # an invalid region name, endpoint URL ...
            raise ConfigurationError(
                f"cannot make a {service} client for region {self.region!r}"
                + (f" at {self.endpoint_url}" if self.endpoint_url else "")
                + f": {str(error).rstrip('.')}. Check --cloud-stack-region / ini "
                "cloud_stack_region / AWS_REGION"
            ) from None
        return client if self.guard is None else self.guard.wrap(client, service)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "profile": self.profile,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], on_session: SessionHook | None = None) -> Connection:
        return cls(
            target=data["target"],
            region=data["region"],
            endpoint_url=data.get("endpoint_url"),
            profile=data.get("profile"),
            on_session=on_session,
        )

    def cli_command(self, *words: str) -> str:
        """An AWS CLI command acting on this target, complete: region, endpoint and profile, so
        that pasted as printed it never reaches real AWS's default region instead."""
        import shlex

        command = ["aws", *words, "--region", self.region]
        if self.endpoint_url:
            command += ["--endpoint-url", self.endpoint_url]
        if self.profile:
            command += ["--profile", self.profile]
        return shlex.join(command)


def default_region(profile: str | None) -> str | None:
    """The region the boto3 chain would use (env, profile), or None."""
    import boto3

    try:
        return boto3.session.Session(profile_name=profile).region_name
    except Exception as error:  # botocore.exceptions.ProfileNotFound and friends
        raise ConfigurationError(
            f"cannot use AWS profile {profile!r}: {error}. Check "
            "--cloud-stack-profile / ini cloud_stack_profile / $AWS_PROFILE"
        ) from None


def remote_connection(settings: Settings, on_session: SessionHook | None) -> Connection:
    """The connection for an ``aws`` or endpoint target, with the region resolved."""
    region = settings.region or default_region(settings.profile)
    if settings.target.kind is TargetKind.ENDPOINT:
        assert settings.target.endpoint_url is not None
        return Connection(
            str(settings.target),
            region or EMULATOR_REGION,
            settings.target.endpoint_url,
            None,
            on_session,
        )
    if not region:
        raise ConfigurationError(
            "no AWS region for --cloud-stack=aws: pass --cloud-stack-region, set ini "
            "cloud_stack_region, or set AWS_REGION / a region in your AWS profile"
        )
    return Connection("aws", region, None, settings.profile, on_session)


def _botocore_session() -> Any:
    """A new botocore session that reads botocore's data (service models, endpoint rules) through
    the process's one loader: a session of its own parses the same JSON files again, ~50 ms for
    the first client of each service (the run's session, then each Stack's)."""
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _data_loader(core.get_config_variable("data_path")))
    return core


@functools.cache
def _data_loader(data_path: str | None) -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)


def _drop_repeated_search_paths(core: Any) -> None:
    # Every boto3 Session appends boto3's data folder to its loader's search paths: with a shared
    # loader, once is enough.
    paths = core.get_component("data_loader").search_paths
    paths[:] = list(dict.fromkeys(paths))
