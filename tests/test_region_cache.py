"""boto3's region and partition lookups, cached on disk for the emulator (``server.py``).

Run in child processes: the cache replaces two boto3 methods for the whole process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import botocore

ASK = """\
import json, sys
if sys.argv[1] == "cached":
    from pytest_cloudstack.local.server import cache_region_lookups
    cache_region_lookups()
import boto3
session = boto3.session.Session()
print(json.dumps([session.get_available_partitions(), session.get_available_regions("sqs")]))
"""


def _ask(cache_home: Path, how: str) -> list[list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", ASK, how],
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _entry(cache_home: Path) -> Path:
    return cache_home / "pytest-cloudstack" / "regions" / f"botocore-{botocore.__version__}.json"


def test_the_answers_are_boto3s_and_are_kept(tmp_path: Path) -> None:
    plain = _ask(tmp_path, "plain")
    assert _ask(tmp_path, "cached") == plain
    kept = json.loads(_entry(tmp_path).read_text())
    assert kept["partitions"] == plain[0]
    assert kept["sqs|aws|False"] == plain[1]


def test_a_kept_answer_is_used_and_a_damaged_one_looked_up_again(tmp_path: Path) -> None:
    plain = _ask(tmp_path, "plain")
    entry = _entry(tmp_path)
    entry.parent.mkdir(parents=True)
    # Only the cache could say so: the kept answer is what the lookup returns.
    entry.write_text(json.dumps({"partitions": ["aws", "made-up"], "sqs|aws|False": 5}))
    assert _ask(tmp_path, "cached") == [["aws", "made-up"], plain[1]]
    entry.write_text("{not json")
    assert _ask(tmp_path, "cached") == plain
