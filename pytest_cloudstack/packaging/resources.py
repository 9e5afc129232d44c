"""Which resource properties take a local path, and what each becomes once packaged.

The same set ``aws cloudformation package`` and ``sam package`` handle for serverless projects.
A value that is a mapping (``{S3Bucket: ...}``, an intrinsic function) or already remote
(``s3://...``, ``https://...``) is left as it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """What is uploaded for a local path."""

    ZIP = "zip"  # a folder zipped; a single file zipped too, unless it is a .zip/.jar already
    FILE = "file"  # a file uploaded as it is
    TEMPLATE = "template"  # a template, itself packaged, uploaded as JSON


class Form(enum.Enum):
    """How the property points at the uploaded object."""

    S3_URI = "s3-uri"  # "s3://bucket/key" (SAM)
    CODE = "code"  # {"S3Bucket": ..., "S3Key": ...} (Lambda)
    BUCKET_KEY = "bucket-key"  # {"Bucket": ..., "Key": ...}
    URL = "url"  # "https://s3.region.amazonaws.com/bucket/key"


@dataclass(frozen=True)
class Packageable:
    """One property that may hold a local path."""

    resource_type: str
    property: str
    kind: Kind
    form: Form
    #: SAM packages the template's own folder when a function names no code at all
    missing_means_template_folder: bool = False
    #: a Lambda function's code: a requirements.txt beside the sources is installed
    function: bool = False
    #: a Lambda layer's content
    layer: bool = False


PACKAGEABLE: tuple[Packageable, ...] = (
    Packageable("AWS::Lambda::Function", "Code", Kind.ZIP, Form.CODE, function=True),
    Packageable("AWS::Lambda::LayerVersion", "Content", Kind.ZIP, Form.CODE, layer=True),
    Packageable(
        "AWS::Serverless::Function",
        "CodeUri",
        Kind.ZIP,
        Form.S3_URI,
        missing_means_template_folder=True,
        function=True,
    ),
    Packageable("AWS::Serverless::LayerVersion", "ContentUri", Kind.ZIP, Form.S3_URI, layer=True),
    Packageable(
        "AWS::StepFunctions::StateMachine", "DefinitionS3Location", Kind.FILE, Form.BUCKET_KEY
    ),
    Packageable("AWS::Serverless::StateMachine", "DefinitionUri", Kind.FILE, Form.BUCKET_KEY),
    Packageable("AWS::CloudFormation::Stack", "TemplateURL", Kind.TEMPLATE, Form.URL),
    Packageable("AWS::Serverless::Application", "Location", Kind.TEMPLATE, Form.URL),
)

BY_TYPE: dict[str, tuple[Packageable, ...]] = {}
for _entry in PACKAGEABLE:
    BY_TYPE[_entry.resource_type] = (*BY_TYPE.get(_entry.resource_type, ()), _entry)

_REMOTE = ("s3://", "https://", "http://")


def is_local_path(value: object) -> bool:
    """Whether a property value names a local file or folder (a non-remote string)."""
    return isinstance(value, str) and bool(value.strip()) and not value.startswith(_REMOTE)


def reference(form: Form, bucket: str, key: str, url: str) -> object:
    """The property's new value, pointing at ``bucket``/``key`` (``url`` for :attr:`Form.URL`)."""
    if form is Form.S3_URI:
        return f"s3://{bucket}/{key}"
    if form is Form.CODE:
        return {"S3Bucket": bucket, "S3Key": key}
    if form is Form.BUCKET_KEY:
        return {"Bucket": bucket, "Key": key}
    return url
