"""This checkout's example session against another commit's, interleaved: did a change cost time?

Runs ``pytest examples/orders --cloud-stack=local`` alternately with the plugin of this checkout
and with the plugin of ``--base`` (exported with ``git archive`` into a temporary folder, put
first on ``PYTHONPATH``), and reports the medians of wall time and of CPU time (the pytest
process and its children, the emulator included: less sensitive to a busy machine than wall
time). Every run must pass with the same test count.

Run: ``python benchmarks/ab_session.py --base COMMIT [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")


def run(plugin_path: str | None, folder: str) -> tuple[float, float, str]:
    env = dict(os.environ)
    if plugin_path is not None:
        env["PYTHONPATH"] = plugin_path
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [*PYTEST, str(REPO / "examples" / "orders"), "--cloud-stack=local"],
        cwd=folder,  # not the checkout: its folder would come first on sys.path
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0:
        raise SystemExit(f"a run failed ({result.returncode}): {last}")
    return wall, cpu, last.split(" in ")[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "archive", args.base, "pytest_cloudstack"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout
        base = Path(folder) / "base"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(base, filter="data")
        samples: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
        outcomes = set()
        for n in range(args.repeat):
            order = [("base", str(base)), ("this", None)]
            for name, path in order if n % 2 == 0 else order[::-1]:
                wall, cpu, outcome = run(path, folder)
                outcomes.add(outcome)
                samples[name].append((wall, cpu))
                print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU ({outcome})", flush=True)
        if len(outcomes) != 1:
            raise SystemExit(f"the runs did not all end alike: {sorted(outcomes)}")
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{name} ({args.base if name == 'base' else 'checkout'}): median {wall:.2f} s wall, {cpu:.2f} s CPU"
        )


if __name__ == "__main__":
    main()
