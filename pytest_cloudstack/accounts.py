"""Credentials and account checks on real AWS, made before any call that changes anything."""

from __future__ import annotations

from typing import Any

from pytest_cloudstack.connection import Connection
from pytest_cloudstack.errors import CredentialsError


def check_account(connection: Connection, session: Any, allowed: tuple[str, ...]) -> str:
    """The caller's account ID, after checking that credentials exist and the account is allowed."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        account = str(connection.client("sts", session).get_caller_identity()["Account"])
    except NoCredentialsError:
        raise CredentialsError(
            "no AWS credentials found for --cloud-stack=aws: log in (aws sso login, "
            "aws configure, or set AWS_PROFILE / AWS_ACCESS_KEY_ID), or run offline with "
            "--cloud-stack=local"
        ) from None
    except (ClientError, BotoCoreError) as error:
        raise CredentialsError(
            f"the AWS credentials were rejected ({error}); refresh them (e.g. aws sso login) "
            "or run offline with --cloud-stack=local"
        ) from None
    if allowed and account not in allowed:
        raise CredentialsError(
            f"AWS account {account} is not in ini cloud_stack_allowed_accounts "
            f"({', '.join(allowed)}): refusing to deploy. Switch credentials or add the account"
        )
    return account
