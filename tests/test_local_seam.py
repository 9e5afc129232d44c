"""The local runner through the plugin: templates, ini, the seam into moto, worker lifetimes.

``--cloud-stack=local`` sessions in pytester subprocesses (code in S3 and a layer, both from the
template; an allowed host package from ini), a moto upgrade that moves the seam, and the promise
that no worker process outlives its session, even when pytest is killed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from templates import service_role
from test_local_lambda import alive, poll, zipped

import pytest_cloudstack.local.seam as seam
from pytest_cloudstack.errors import ConfigurationError
from pytest_cloudstack.local.emulator import LocalEmulator

REPO = Path(__file__).resolve().parent.parent

ROLE = service_role()

APP = """\
import os
import requests
import shared

def handler(event, context):
    return {"greeting": shared.GREETING, "requests": requests.__name__, "pid": os.getpid()}
"""

POWERTOOLS = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV2:79"

S3_CODE_TEMPLATE = f"""\
Resources:
  SharedLayer:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content: {{S3Bucket: code-artifacts, S3Key: layer.zip}}
      CompatibleRuntimes: [python3.12]
{ROLE}
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: {{S3Bucket: code-artifacts, S3Key: app.zip}}
      Layers: [!Ref SharedLayer, {POWERTOOLS}]
Outputs:
  FunctionName:
    Value: !Ref Function
"""

LAYER_ZIP = zipped({"python/shared.py": "GREETING = 'from the layer'\n"})
UPLOAD_CONFTEST = f"""\
import boto3

def pytest_sessionstart(session):
    # The emulator runs and the environment points at it; the template's code must be in S3
    # before the deploy, as `aws cloudformation package` would have put it there.
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="code-artifacts")
    s3.put_object(Bucket="code-artifacts", Key="app.zip", Body={zipped({"app.py": APP})!r})
    s3.put_object(
        Bucket="code-artifacts",
        Key="layer.zip",
        Body={LAYER_ZIP!r},
    )
"""

S3_CODE_TEST = f"""\
import json

def test_function_runs_its_s3_code_with_its_layer(cloud_stack):
    name = cloud_stack.outputs["FunctionName"]
    answer = cloud_stack.client("lambda").invoke(FunctionName=name, Payload=b"{{}}")
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    assert payload["greeting"] == "from the layer"
    assert payload["requests"] == "requests"
    with open("worker.pid", "w") as out:
        out.write(str(payload["pid"]))
    events = cloud_stack.client("logs").filter_log_events(logGroupName="/aws/lambda/" + name)
    messages = [event["message"] for event in events["events"]]
    assert any("{POWERTOOLS} is not in the emulator" in m for m in messages), messages
"""


def test_a_template_function_runs_its_s3_code_layer_and_allowed_packages(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", template=S3_CODE_TEMPLATE)
    pytester.makeini(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_target = local\n"
        "cloud_stack_local_packages =\n    requests\n"
    )
    pytester.makeconftest(UPLOAD_CONFTEST)
    pytester.makepyfile(S3_CODE_TEST)
    result = pytester.runpytest_subprocess("--cloud-stack")
    result.assert_outcomes(passed=1)
    worker = int((pytester.path / "worker.pid").read_text())
    assert not alive(worker), "the session stopped its worker"


def test_an_unknown_allowed_package_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makeini(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_local_packages =\n    no-such-dist\n"
    )
    result = project.runpytest("--cloud-stack=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cloud_stack_local_packages names 'no-such-dist'*"])


SLEEPER_TEMPLATE = f"""\
Parameters:
  PidFile:
    Type: String
Resources:
{ROLE}
  Sleeper:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 300
      Role: !GetAtt Role.Arn
      Environment:
        Variables:
          PID_FILE: !Ref PidFile
      Code:
        ZipFile: |
          import os, time

          def handler(event, context):
              with open(os.environ["PID_FILE"] + ".tmp", "w") as out:
                  out.write(str(os.getpid()))
              os.rename(os.environ["PID_FILE"] + ".tmp", os.environ["PID_FILE"])
              time.sleep(300)
Outputs:
  SleeperName:
    Value: !Ref Sleeper
"""

SLEEPER_TEST = """\
def test_waits_for_the_sleeper(cloud_stack):
    cloud_stack.client("lambda").invoke(FunctionName=cloud_stack.outputs["SleeperName"])
"""


def test_workers_exit_when_pytest_is_killed(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", template=SLEEPER_TEMPLATE)
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    pytester.makepyfile(SLEEPER_TEST)
    pid_file = pytester.path / "sleeper.pid"
    session = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--cloud-stack=local",
            f"--cloud-stack-param=PidFile={pid_file}",
            "-p",
            "no:cacheprovider",
        ],
        cwd=pytester.path,
        # a killed session cannot remove its extracted packages: keep them in pytest's tmp
        env={**os.environ, "TMPDIR": str(pytester.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        worker = int(poll(lambda: pid_file.exists() and pid_file.read_text(), 60, "sleeper pid"))
        assert alive(worker)
        # SIGKILL: no finalizer, no atexit; the worker sees its stdin close and goes.
        session.send_signal(signal.SIGKILL)
        session.wait(timeout=10)
        poll(lambda: not alive(worker), 10, f"worker {worker} gone")
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()


# -- the seam into moto ------------------------------------------------------------------------


def test_the_installed_moto_has_every_seam_the_runner_uses() -> None:
    assert seam.check() == []
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"moto[server]{seam.TESTED_MOTO}"' in pyproject, "the pin and the tested range agree"
    from importlib.metadata import version

    major, minor, *_ = (int(part) for part in re.findall(r"\d+", version("moto"))[:3])
    assert (5, 2) <= (major, minor) < (5, 3)


def test_model_attributes_the_runner_reads_exist() -> None:
    from moto.apigateway.models import apigateway_backends
    from moto.apigatewayv2.models import apigatewayv2_backends
    from moto.awslambda.models import lambda_backends
    from moto.events.models import events_backends
    from moto.sns.models import sns_backends

    with LocalEmulator() as emulator:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=emulator.url)

        role = client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        function = client("lambda").create_function(
            FunctionName="probe",
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": zipped({"app.py": "def handler(e, c):\n    return 1\n"})},
        )
        topic = client("sns").create_topic(Name="probe")["TopicArn"]
        client("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function["FunctionArn"])
        client("events").put_rule(Name="probe", EventPattern=json.dumps({"source": ["x"]}))
        rest = client("apigateway").create_rest_api(name="probe")["id"]
        root = client("apigateway").get_resources(restApiId=rest)["items"][0]["id"]
        client("apigateway").put_method(
            restApiId=rest, resourceId=root, httpMethod="GET", authorizationType="NONE"
        )
        client("apigateway").put_integration(
            restApiId=rest, resourceId=root, httpMethod="GET", type="MOCK"
        )
        v2 = client("apigatewayv2")
        http_api = v2.create_api(Name="probe", ProtocolType="HTTP")["ApiId"]
        integration = v2.create_integration(
            ApiId=http_api, IntegrationType="AWS_PROXY", IntegrationUri=function["FunctionArn"]
        )["IntegrationId"]
        route = v2.create_route(ApiId=http_api, RouteKey="$default")["RouteId"]
        v2.create_stage(ApiId=http_api, StageName="$default")
        rest_api = apigateway_backends["123456789012"]["us-east-1"].apis[rest]
        http_model = apigatewayv2_backends["123456789012"]["us-east-1"].apis[http_api]
        models = {
            "moto.apigateway.models.RestAPI": rest_api,
            "moto.apigateway.models.Resource": rest_api.resources[root],
            "moto.apigateway.models.Method": rest_api.resources[root].resource_methods["GET"],
            "moto.apigateway.models.Integration": rest_api.resources[root]
            .resource_methods["GET"]
            .method_integration,
            "moto.apigatewayv2.models.Api": http_model,
            "moto.apigatewayv2.models.Route": http_model.routes[route],
            "moto.apigatewayv2.models.Integration": http_model.integrations[integration],
            "moto.apigatewayv2.models.Stage": http_model.stages["$default"],
            "moto.awslambda.models.LambdaFunction": lambda_backends["123456789012"][
                "us-east-1"
            ].get_function("probe"),
            "moto.sns.models.Subscription": next(
                iter(sns_backends["123456789012"]["us-east-1"].subscriptions.values())
            ),
            "moto.events.models.Rule": events_backends["123456789012"]["us-east-1"]
            .event_buses["default"]
            .rules["probe"],
        }
        for label, model in models.items():
            missing = [name for name in seam.MODEL_ATTRIBUTES[label] if not hasattr(model, name)]
            assert not missing, f"{label} lost {missing}"


def test_a_moved_seam_stops_the_local_target_with_a_clear_message(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.awslambda.models as models

    assert seam.active() is None, "no emulator may run in this process during this test"
    monkeypatch.delattr(models.LambdaFunction, "invoke")
    monkeypatch.setattr(models.LambdaBackend, "create_event_source_mapping", lambda self, x: x)

    with pytest.raises(ConfigurationError) as raised:
        LocalEmulator().__enter__()
    message = str(raised.value)
    assert "moto.awslambda.models.LambdaFunction.invoke is gone" in message
    assert "create_event_source_mapping takes ('self', 'x')" in message
    assert "moto[server]>=5.2.1,<5.3" in message

    # The session's emulator runs in a child process: give that child a moto without the seam,
    # as an upgrade would, through a sitecustomize that runs before anything else there.
    moved = project.mkdir("moved-moto")
    (moved / "sitecustomize.py").write_text(
        "import moto.awslambda.models as models\ndel models.LambdaFunction.invoke\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(moved))
    project.makepyfile("def test_a(cloud_stack):\n    pass\n")
    result = project.runpytest("--cloud-stack=local", f"--cloud-stack-name=s{uuid.uuid4().hex[:6]}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the local emulator stopped before it could serve: "
            "the local target cannot run Lambda handlers with moto *",
            "*moto.awslambda.models.LambdaFunction.invoke is gone*",
        ]
    )
    assert os.environ.get("AWS_ENDPOINT_URL") is None, "nothing left pointed at a dead emulator"


def test_a_moved_name_the_local_models_call_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.stepfunctions.responses as responses

    monkeypatch.delattr(responses, "get_backend")
    assert "moto.stepfunctions.responses.get_backend is gone" in seam.check()
