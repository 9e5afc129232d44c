"""Packaging from the outside: pytester runs against a real moto_server (and the local target),
then a look at what really exists there: objects in the buckets, functions and their code."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, MotoServer
from templates import service_role

ARTIFACTS = "cloudstack-artifacts-123456789012-us-east-1"
CDK_DATA = REPO / "tests" / "data" / "cdk-app"
CDK_ASSET = "2c5c390d57f88ed10377d40299df2b9fa432db9b2da3614332b5f448bea5e88b"
SAM_APP = REPO / "examples" / "sam-app"
DEPENDENCY = "inflection==0.5.1"

USES_STACK = "def test_uses_stack(cloud_stack):\n    assert cloud_stack.name\n"

# Counts what the plugin sends, with botocore event handlers on the plugin's real clients.
COUNTING_CONFTEST = """
CALLS = {"PutObject": 0, "CreateStack": {}, "owners": set()}

def pytest_cloudstack_boto_session(session):
    def put(params, **kwargs):
        CALLS["PutObject"] += 1
        CALLS["owners"].add(params.get("ExpectedBucketOwner"))

    def create(params, **kwargs):
        CALLS["CreateStack"] = dict(params)

    session.events.register("provide-client-params.s3.PutObject", put)
    session.events.register("provide-client-params.cloudformation.CreateStack", create)

def pytest_terminal_summary(terminalreporter):
    create = CALLS["CreateStack"]
    terminalreporter.write_line(f"PutObject calls: {CALLS['PutObject']}")
    terminalreporter.write_line(f"TemplateURL sent: {'TemplateURL' in create}")
    terminalreporter.write_line(f"Capabilities: {','.join(create.get('Capabilities', []))}")
    transform = "AWS::Serverless-2016-10-31" in create.get("TemplateBody", "")
    terminalreporter.write_line(f"Transform sent: {transform}")
    terminalreporter.write_line(f"ExpectedBucketOwner: {sorted(map(str, CALLS['owners']))}")
"""

ROLE = f"\n{service_role()}\n"

CFN_TEMPLATE = (
    """\
Resources:
  Layer:
    Type: AWS::Lambda::LayerVersion
    Properties:
      LayerName: shared
      Content: layer/
      CompatibleRuntimes: [python3.12]
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: fn/
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt Role.Arn
      DefinitionS3Location: machine.asl.json
  Nested:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: nested/child.yaml
"""
    + ROLE
    + """
Outputs:
  FunctionName:
    Value: !Ref Function
"""
)

CHILD_TEMPLATE = (
    """\
Resources:
  ChildFunction:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: child-function
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: code
"""
    + ROLE
)

MACHINE = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _cfn_project(pytester: pytest.Pytester) -> pytest.Pytester:
    _write(
        pytester.path,
        {
            "template.yaml": CFN_TEMPLATE,
            "layer/python/shared.py": "SHARED = 1\n",
            "fn/app.py": "def handler(event, context):\n    return 'fn'\n",
            "fn/__pycache__/app.cpython-312.pyc": "stale",
            "machine.asl.json": MACHINE,
            "nested/child.yaml": CHILD_TEMPLATE,
            "nested/code/app.py": "def handler(event, context):\n    return 'child'\n",
        },
    )
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    pytester.makeconftest(COUNTING_CONFTEST)
    pytester.makepyfile(USES_STACK)
    return pytester


def _object(moto: MotoServer, bucket: str, key: str) -> bytes:
    return bytes(moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def _code_sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _deployed_template(moto: MotoServer, name: str) -> dict[str, Any]:
    body = moto.client("cloudformation").get_template(StackName=name)["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def _keys(moto: MotoServer, bucket: str) -> list[str]:
    listing = moto.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _our_stack(moto: MotoServer) -> tuple[str, dict[str, Any]]:
    """The run's stack; moto lists the nested ones beside it, as `{parent}-{LogicalId}-{suffix}`."""
    stacks = moto.live_stacks()
    ((name, stack),) = [
        (n, s) for n, s in stacks.items() if not any(n.startswith(f"{o}-") for o in stacks)
    ]
    return name, stack


def _no_trace_left(moto: MotoServer) -> None:
    """Nothing reached the cloud: no stack (not even a deleted one), no bucket."""
    assert moto.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert moto.client("s3").list_buckets()["Buckets"] == []


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test dependency's wheel, downloaded from PyPI once per session (retried once)."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--dest", str(folder), DEPENDENCY]
    for _ in range(2):
        if subprocess.run(command, capture_output=True, check=False, timeout=120).returncode == 0:
            break
    assert list(folder.glob("inflection-*.whl")), "could not download the test wheel from PyPI"
    return folder


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch, wheelhouse: Path) -> Path:
    """pip, as the plugin runs it, installs from the session's wheelhouse only: fast, offline."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    return wheelhouse


# -- each packaged property type -------------------------------------------------------------


def test_cloudformation_paths_are_packaged_and_nested_stacks_recursively(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    project = _cfn_project(pytester)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"cloudstack: packaged 5 artifacts in *s: 5 uploaded, 0 already in s3://{ARTIFACTS}"]
    )
    name, stack = _our_stack(moto)
    resources = _deployed_template(moto, name)["Resources"]

    code = resources["Function"]["Properties"]["Code"]
    assert code["S3Bucket"] == ARTIFACTS and code["S3Key"].endswith(".zip")
    package = _object(moto, ARTIFACTS, code["S3Key"])
    assert _names(package) == ["app.py"], "byte code left out"
    function = moto.client("lambda").get_function(FunctionName=stack["Outputs"][0]["OutputValue"])
    assert function["Configuration"]["CodeSha256"] == _code_sha(package)

    content = resources["Layer"]["Properties"]["Content"]
    layer_zip = _object(moto, content["S3Bucket"], content["S3Key"])
    assert _names(layer_zip) == ["python/shared.py"]
    (layer,) = moto.client("lambda").list_layers()["Layers"]
    version = moto.client("lambda").get_layer_version(
        LayerName=layer["LayerName"], VersionNumber=layer["LatestMatchingVersion"]["Version"]
    )
    assert version["Content"]["CodeSha256"] == _code_sha(layer_zip)

    location = resources["Machine"]["Properties"]["DefinitionS3Location"]
    assert set(location) == {"Bucket", "Key"}
    assert _object(moto, location["Bucket"], location["Key"]).decode() == MACHINE

    url = resources["Nested"]["Properties"]["TemplateURL"]
    assert url.startswith(f"https://s3.us-east-1.amazonaws.com/{ARTIFACTS}/cloudstack/")
    child = json.loads(_object(moto, ARTIFACTS, url.split(f"/{ARTIFACTS}/", 1)[1]))
    child_code = child["Resources"]["ChildFunction"]["Properties"]["Code"]
    child_package = _object(moto, ARTIFACTS, child_code["S3Key"])
    assert _names(child_package) == ["app.py"]
    assert b"child" in zipfile.ZipFile(io.BytesIO(child_package)).read("app.py")
    # moto created the nested stack, and the nested stack's function from its packaged code.
    nested = moto.client("lambda").get_function(FunctionName="child-function")
    assert nested["Configuration"]["CodeSha256"] == _code_sha(child_package)
    assert len(_keys(moto, ARTIFACTS)) == 5


SAM_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Single:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: single.py
      Handler: single.handler
      Layers: [!Ref Layer]
  FromGlobals:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: sam-layer
      ContentUri: layer/
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: machine.asl.json
      Role: arn:aws:iam::123456789012:role/machine
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location: app/template.yaml
Outputs:
  SingleName:
    Value: !Ref Single
  FromGlobalsName:
    Value: !Ref FromGlobals
"""


def test_sam_paths_are_packaged_and_transformed_for_moto(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _write(
        pytester.path,
        {
            "template.yaml": SAM_TEMPLATE,
            "single.py": "def handler(event, context):\n    return 1\n",
            "src/app.py": "def handler(event, context):\n    return 2\n",
            "layer/python/lib.py": "",
            "machine.asl.json": MACHINE,
            "app/template.yaml": "Resources:\n  AppQueue:\n    Type: AWS::SQS::Queue\n",
        },
    )
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    pytester.makeconftest(COUNTING_CONFTEST)
    pytester.makepyfile(USES_STACK)
    result = pytester.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["Capabilities: CAPABILITY_AUTO_EXPAND,CAPABILITY_IAM"])
    name, stack = _our_stack(moto)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    resources = _deployed_template(moto, name)["Resources"]
    assert "Transform" not in _deployed_template(moto, name), "transformed client-side"

    lambda_ = moto.client("lambda")
    for logical_id, files in (("Single", ["single.py"]), ("FromGlobals", ["app.py"])):
        code = resources[logical_id]["Properties"]["Code"]
        package = _object(moto, code["S3Bucket"], code["S3Key"])
        assert _names(package) == files
        function = lambda_.get_function(FunctionName=outputs[f"{logical_id}Name"])
        assert function["Configuration"]["CodeSha256"] == _code_sha(package)
    mappings = lambda_.list_event_source_mappings(FunctionName=outputs["FromGlobalsName"])
    assert len(mappings["EventSourceMappings"]) == 1

    layer = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion")
    content = layer["Properties"]["Content"]
    assert _names(_object(moto, content["S3Bucket"], content["S3Key"])) == ["python/lib.py"]

    machine = resources["Machine"]["Properties"]["DefinitionS3Location"]
    assert _object(moto, machine["Bucket"], machine["Key"]).decode() == MACHINE

    app = resources["App"]
    assert app["Type"] == "AWS::CloudFormation::Stack"
    child = json.loads(
        _object(moto, ARTIFACTS, app["Properties"]["TemplateURL"].split(f"/{ARTIFACTS}/", 1)[1])
    )
    assert list(child["Resources"]) == ["AppQueue"]


EVENTS_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: src/
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
  Uploads:
    Type: AWS::S3::Bucket
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - SQSPollerPolicy: {QueueName: !GetAtt Queue.QueueName}
        - AWSLambdaBasicExecutionRole
      Events:
        FromQueue: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
        FromTopic: {Type: SNS, Properties: {Topic: !Ref Topic}}
        FromBucket: {Type: S3, Properties: {Bucket: !Ref Uploads, Events: "s3:ObjectCreated:*"}}
        FromTable:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Table.StreamArn, StartingPosition: LATEST}
        Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
        Http: {Type: Api, Properties: {Path: "/orders/{id}", Method: get}}
"""


def test_sam_events_policies_and_globals_come_through_on_moto(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    _write(pytester.path, {"template.yaml": EVENTS_TEMPLATE, "src/app.py": ""})
    pytester.makeini("[pytest]\ncloud_stack_prefix = proj\n")
    pytester.makepyfile(USES_STACK)
    result = pytester.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=1)
    name, _ = _our_stack(moto)
    resources = _deployed_template(moto, name)["Resources"]
    types = {logical_id: r["Type"] for logical_id, r in resources.items()}
    assert types["WorkerFromQueue"] == types["WorkerFromTable"] == "AWS::Lambda::EventSourceMapping"
    assert types["WorkerFromTopic"] == "AWS::SNS::Subscription"
    assert types["WorkerNightly"] == "AWS::Events::Rule"
    assert types["WorkerFromBucketPermission"] == "AWS::Lambda::Permission"
    role = resources["WorkerRole"]["Properties"]
    # A managed policy by name, resolved offline from the translator's bundled list.
    assert (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        in role["ManagedPolicyArns"]
    )
    assert any(p["PolicyName"].startswith("WorkerRolePolicy") for p in role["Policies"])

    lambda_ = moto.client("lambda")
    function = resources["Worker"]
    assert function["Properties"]["Runtime"] == "python3.12"  # from Globals
    mappings = lambda_.list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == 2, "SQS and DynamoDB stream"
    # moto does not apply a bucket's NotificationConfiguration: check what SAM asked for.
    (notification,) = resources["Uploads"]["Properties"]["NotificationConfiguration"][
        "LambdaConfigurations"
    ]
    assert notification["Event"] == "s3:ObjectCreated:*"
    (api,) = moto.client("apigateway").get_rest_apis()["items"]
    paths = {
        r["path"]: r for r in moto.client("apigateway").get_resources(restApiId=api["id"])["items"]
    }
    assert set(paths["/orders/{id}"]["resourceMethods"]) == {"GET"}


# -- determinism and upload skipping ----------------------------------------------------------


def test_an_unchanged_rerun_uploads_nothing_even_with_new_mtimes(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    project = _cfn_project(pytester)
    first = project.runpytest(f"--cloud-stack={moto.url}")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        ["PutObject calls: 5", "TemplateURL sent: False", "*", "*", "ExpectedBucketOwner: ['None']"]
    )
    keys = _keys(moto, ARTIFACTS)
    for path in project.path.rglob("*"):  # a fresh checkout: same bytes, new timestamps
        path.touch()
    # No cached zip either: the zips are built again, from files with other timestamps.
    shutil.rmtree(os.environ["XDG_CACHE_HOME"], ignore_errors=True)
    second = project.runpytest(f"--cloud-stack={moto.url}")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(
        ["*packaged 5 artifacts in *s: 0 uploaded, 5 already in*", "PutObject calls: 0"]
    )
    assert _keys(moto, ARTIFACTS) == keys, "same content, same keys"

    (project.path / "fn" / "app.py").write_text("def handler(event, context):\n    return 3\n")
    third = project.runpytest(f"--cloud-stack={moto.url}")
    third.assert_outcomes(passed=1)
    third.stdout.fnmatch_lines(["PutObject calls: 1"])


def test_the_plugins_bucket_is_tagged_encrypted_private_and_expiring(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    _write(project.path, {"fn/app.py": "", "template.yaml": _function_template("fn/")})
    project.makepyfile(USES_STACK)
    project.runpytest(f"--cloud-stack={moto.url}").assert_outcomes(passed=1)
    s3 = moto.client("s3")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=ARTIFACTS)["TagSet"]}
    assert tags["cloudstack:managed"] == "true"
    block = s3.get_public_access_block(Bucket=ARTIFACTS)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    encryption = s3.get_bucket_encryption(Bucket=ARTIFACTS)["ServerSideEncryptionConfiguration"]
    default = encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "AES256"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=ARTIFACTS)["Rules"]
    assert rule["Status"] == "Enabled" and rule["Expiration"]["Days"] == 30
    assert moto.live_stacks() == {}, "the bucket outlives the stack; the stack is gone"


def test_the_users_bucket_from_ini_is_used_as_it_is(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    moto.client("s3").create_bucket(Bucket="team-artifacts")
    _write(project.path, {"fn/app.py": "", "template.yaml": _function_template("fn/")})
    project.makeini(
        "[pytest]\ncloud_stack_prefix = proj\ncloud_stack_artifact_bucket = team-artifacts\n"
    )
    project.makepyfile(USES_STACK)
    project.runpytest(f"--cloud-stack={moto.url}").assert_outcomes(passed=1)
    (key,) = _keys(moto, "team-artifacts")
    assert key.startswith("cloudstack/") and key.endswith(".zip")
    names = [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
    assert names == ["team-artifacts"], "no bucket of the plugin's own"


def _function_template(code: str, requirements_runtime: str = "python3.12") -> str:
    return (
        f"""\
Resources:
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: {requirements_runtime}
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: {code}
"""
        + ROLE
    )


# -- large templates ---------------------------------------------------------------------------


def test_a_template_over_51200_bytes_goes_by_template_url(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    bulky = "x" * 60_000
    template = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
    template += (
        f"    Metadata:\n      Notes: {bulky}\nOutputs:\n  QueueUrl:\n    Value: !Ref Queue\n"
    )
    (project.path / "template.yaml").write_text(template)
    project.makeconftest(COUNTING_CONFTEST)
    project.makepyfile(USES_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PutObject calls: 1", "TemplateURL sent: True"])
    (key,) = _keys(moto, ARTIFACTS)
    uploaded = json.loads(_object(moto, ARTIFACTS, key))
    assert uploaded["Resources"]["Queue"]["Metadata"]["Notes"] == bulky
    assert len(moto.live_stacks()) == 1


# -- CDK ---------------------------------------------------------------------------------------


def _cdk_project(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(CDK_DATA, pytester.path, dirs_exist_ok=True)
    pytester.makeini(
        "[pytest]\ncloud_stack_prefix = proj\n"
        "cloud_stack_template = cdk.out/CdkAppStack.template.json\n"
    )
    pytester.makepyfile(USES_STACK)
    return pytester


def test_a_cdk_assembly_is_deployed_with_its_assets_published(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    project = _cdk_project(pytester)
    result = project.runpytest(f"--cloud-stack={moto.url}", "--cloud-stack-keep=always")
    result.assert_outcomes(passed=1)
    bootstrap = "cdk-hnb659fds-assets-123456789012-us-east-1"
    keys = _keys(moto, bootstrap)
    assert f"{CDK_ASSET}.zip" in keys and len(keys) == 2, "the code asset and the template asset"
    package = _object(moto, bootstrap, f"{CDK_ASSET}.zip")
    assert _names(package) == ["index.py"]
    _, stack = _our_stack(moto)
    function = moto.client("lambda").get_function(FunctionName=stack["Outputs"][0]["OutputValue"])
    assert function["Configuration"]["CodeSha256"] == _code_sha(package)


# -- dependencies, on the local target ---------------------------------------------------------


def test_sam_app_example_passes_on_local(pytester: pytest.Pytester, offline_pip: Path) -> None:
    shutil.copytree(SAM_APP, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("--cloud-stack")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["cloudstack: target local*", "*packaged 2 artifacts*"])


# -- bad input: a clear error, and nothing created anywhere ---------------------------------


def _bad(pytester: pytest.Pytester, moto: MotoServer, files: dict[str, str], ini: str = "") -> str:
    _write(pytester.path, files)
    pytester.makeini(f"[pytest]\ncloud_stack_prefix = proj\n{ini}")
    pytester.makepyfile(USES_STACK)
    result = pytester.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    _no_trace_left(moto)
    return result.stdout.str()


def test_a_missing_path_names_the_resource_and_property(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    output = _bad(pytester, moto, {"template.yaml": _function_template("src/missing")})
    assert (
        "resource Function (AWS::Lambda::Function), property Code: 'src/missing' does not exist"
        in output
    )


def test_a_path_escaping_the_project_is_refused(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    (pytester.path.parent / "outside").mkdir(exist_ok=True)
    output = _bad(pytester, moto, {"template.yaml": _function_template("../outside")})
    assert "property Code: '../outside' is " in output
    assert "outside the project folder" in output


def test_a_symlink_loop_is_refused(pytester: pytest.Pytester, moto: MotoServer) -> None:
    (pytester.path / "fn").mkdir()
    (pytester.path / "fn" / "app.py").write_text("")
    (pytester.path / "fn" / "loop").symlink_to(pytester.path / "fn")
    output = _bad(pytester, moto, {"template.yaml": _function_template("fn")})
    assert "resource Function (AWS::Lambda::Function), property Code: symlink loop" in output


def test_an_empty_folder_is_refused(pytester: pytest.Pytester, moto: MotoServer) -> None:
    files = {"template.yaml": _function_template("fn"), "fn/__pycache__/app.pyc": ""}
    output = _bad(pytester, moto, files)
    assert "property Code:" in output and "is empty: nothing to package" in output


def test_a_dependency_without_a_wheel_is_said_plainly(
    pytester: pytest.Pytester, moto: MotoServer, offline_pip: Path
) -> None:
    files = {
        "template.yaml": _function_template("fn"),
        "fn/app.py": "",
        "fn/requirements.txt": "no-such-package-for-cloudstack==1.0\n",
    }
    output = _bad(pytester, moto, files)
    assert "property Code: pip found no wheel of no-such-package-for-cloudstack==1.0" in output
    assert "for python3.12 on x86_64" in output
    assert "No matching distribution found" in output, "pip's own words are shown"


def test_a_requirements_file_pip_rejects_shows_pips_error(
    pytester: pytest.Pytester, moto: MotoServer, offline_pip: Path
) -> None:
    files = {
        "template.yaml": _function_template("fn"),
        "fn/app.py": "",
        "fn/requirements.txt": "this is not a requirement ===\n",
    }
    output = _bad(pytester, moto, files)
    assert "installing requirements.txt for python3.12 on x86_64 failed; pip said:" in output
    assert "Invalid requirement" in output


def test_a_sam_template_the_translator_rejects_names_the_resource(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    template = SAM_TEMPLATE.replace(
        "            Queue: !GetAtt Queue.Arn\n", "            BatchSize: 1\n"
    )
    files = {"template.yaml": template, "single.py": "", "src/app.py": "", "layer/x.py": ""}
    files |= {
        "machine.asl.json": MACHINE,
        "app/template.yaml": "Resources: {Q: {Type: AWS::SQS::Queue}}",
    }
    # The cfn-lint gate stops this template first (tests/test_lint_gate.py); without the gate
    # the translator's own refusal must still name the resource.
    output = _bad(pytester, moto, files, "cloud_stack_lint = off\n")
    assert "aws-sam-translator rejected the SAM template:" in output
    assert (
        "Resource with id [FromGlobalsWork] is invalid. Missing required property 'Queue'."
        in output
    )


def test_a_cdk_manifest_naming_a_missing_asset_is_refused(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    project = _cdk_project(pytester)
    shutil.rmtree(project.path / "cdk.out" / f"asset.{CDK_ASSET}")
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*CdkAppStack.assets.json: file asset {CDK_ASSET}: names 'asset.{CDK_ASSET}', which is not in*"
        ]
    )
    _no_trace_left(moto)


def test_container_image_assets_are_refused_as_out_of_scope(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    project = _cdk_project(pytester)
    manifest_path = project.path / "cdk.out" / "CdkAppStack.assets.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["dockerImages"] = {"abc123": {"source": {"directory": "asset.abc123"}}}
    manifest_path.write_text(json.dumps(manifest))
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*container image assets (abc123) are not supported: pytest-cloudstack publishes file*"]
    )
    _no_trace_left(moto)


def test_nested_templates_that_include_each_other_are_refused(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    nested = "Resources:\n  Inner:\n    Type: AWS::CloudFormation::Stack\n"
    nested += "    Properties:\n      TemplateURL: ../template.yaml\n"
    root = "Resources:\n  Outer:\n    Type: AWS::CloudFormation::Stack\n"
    root += "    Properties:\n      TemplateURL: nested/child.yaml\n"
    output = _bad(pytester, moto, {"template.yaml": root, "nested/child.yaml": nested})
    assert "resource Inner (AWS::CloudFormation::Stack), property TemplateURL:" in output
    assert "nested templates form a cycle" in output


def test_a_serverless_repo_application_needs_the_service_transform(
    pytester: pytest.Pytester, moto: MotoServer
) -> None:
    template = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location:
        ApplicationId: arn:aws:serverlessrepo:us-east-1:123456789012:applications/app
        SemanticVersion: 1.0.0
"""
    output = _bad(pytester, moto, {"template.yaml": template})
    assert "resource App (AWS::Serverless::Application), property Location:" in output
    assert "cloud_stack_sam_transform = service" in output


def test_a_bucket_of_our_name_that_is_not_ours_is_refused(
    project: pytest.Pytester, moto: MotoServer
) -> None:
    moto.client("s3").create_bucket(Bucket=ARTIFACTS)
    _write(project.path, {"fn/app.py": "", "template.yaml": _function_template("fn/")})
    project.makepyfile(USES_STACK)
    result = project.runpytest(f"--cloud-stack={moto.url}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*bucket '{ARTIFACTS}' exists but is not pytest-cloudstack's (it has no tag cloudstack:managed=true)*"
        ]
    )
    assert moto.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert _keys(moto, ARTIFACTS) == [], "nothing uploaded to someone else's bucket"


# -- the aws code path (boto3 pointed at moto_server) --------------------------------------


@pytest.fixture
def aws_via_moto(monkeypatch: pytest.MonkeyPatch, moto: MotoServer) -> MotoServer:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return moto


def test_on_aws_sam_goes_to_the_service_with_auto_expand(
    project: pytest.Pytester, aws_via_moto: MotoServer
) -> None:
    template = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: fn/
"""
    _write(project.path, {"template.yaml": template, "fn/app.py": ""})
    project.makeconftest(COUNTING_CONFTEST)
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=aws")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "Capabilities: CAPABILITY_AUTO_EXPAND,CAPABILITY_IAM,CAPABILITY_NAMED_IAM",
            "Transform sent: True",
            # Never write into a same-named bucket of another account.
            "ExpectedBucketOwner: ['123456789012']",
        ]
    )
    west = "cloudstack-artifacts-123456789012-eu-west-1"
    s3 = aws_via_moto.client("s3")
    assert s3.get_bucket_location(Bucket=west)["LocationConstraint"] == "eu-west-1"
    (key,) = _keys(aws_via_moto, west)
    assert _names(_object(aws_via_moto, west, key)) == ["app.py"]


def test_on_aws_the_users_bucket_must_exist(
    project: pytest.Pytester, aws_via_moto: MotoServer
) -> None:
    _write(project.path, {"fn/app.py": "", "template.yaml": _function_template("fn/")})
    project.makeini("[pytest]\ncloud_stack_prefix = proj\ncloud_stack_artifact_bucket = missing\n")
    project.makepyfile(USES_STACK)
    result = project.runpytest("--cloud-stack=aws")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*artifact bucket (ini cloud_stack_artifact_bucket) 'missing' does not exist "
            "in region eu-west-1*"
        ]
    )
    assert aws_via_moto.client("s3").list_buckets()["Buckets"] == []
