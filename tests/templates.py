"""CloudFormation template pieces the tests share: resources as YAML text, indented to stand
under ``Resources:``, without a final newline (one piece a line of the template). A test composes
its own template from them, so what it deploys stays visible in the test file."""

from __future__ import annotations

import textwrap

# A role for functions that call nothing (the local target does not check its policy).
ROLE = """\
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}"""


def service_role(name: str = "Role", service: str = "lambda.amazonaws.com") -> str:
    """An IAM role that ``service`` may assume, as AWS requires of a function's role."""
    return f"""\
  {name}:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {{Effect: Allow, Principal: {{Service: {service}}}, Action: sts:AssumeRole}}"""


def python_function(
    name: str,
    source: str = "",
    *,
    package: str = "",
    runtime: str = "python3.12",
    handler: str = "index.handler",
    role: str = "Role",
) -> str:
    """A Lambda function resource: its handler's ``source`` inline (``ZipFile``; dedented here),
    or its code from the ``package`` path."""
    if package:
        code = f"Code: {package}"
    else:
        inline = textwrap.indent(textwrap.dedent(source).strip("\n"), " " * 10)
        code = f"Code:\n        ZipFile: |\n{inline}"
    return f"""\
  {name}:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: {runtime}
      Handler: {handler}
      Role: !GetAtt {role}.Arn
      {code}"""


# A DynamoDB table keyed on ``id``: the smallest table a test can write to.
TABLE = """\
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]"""
