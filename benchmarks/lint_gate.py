"""What the cfn-lint template gate costs a session, on the orders example on ``local``.

Two figures:

(1) the gate on the critical path with an unchanged template (the verdict is cached): the time
    from the deploy asking for the verdict to having applied it, including starting the job
    (which a session does at configure time), median of ``--repeat * 10`` in-process runs;
(2) whole sessions, ``pytest examples/orders --cloud-stack``, interleaved rounds of three
    variants: ``cloud_stack_lint = off``, the gate with a warm verdict cache, and the gate with
    its verdict cache emptied before the run (cfn-lint really runs, in its child, overlapping
    collection and the emulator's start). Each run must pass the same number of tests with exit
    code 0, or no figure is printed. Per-round differences to ``off`` are reported.

Run: ``python benchmarks/lint_gate.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "orders"


def gate_on_critical_path(cache: Path, repeat: int) -> list[float]:
    """Seconds from asking for the verdict to having applied it, cache warm."""
    os.environ["XDG_CACHE_HOME"] = str(cache)
    from pytest_cloudstack.lint import LintJob, apply_gate
    from pytest_cloudstack.settings import LintMode

    template = EXAMPLE / "template.yaml"
    lines: list[str] = []
    LintJob(template, "us-east-1", EXAMPLE).start().verdict()  # warm the cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        verdict = LintJob(template, "us-east-1", EXAMPLE).start().verdict()
        apply_gate(verdict, LintMode.ERRORS, "template.yaml", lines.append)
        samples.append(time.perf_counter() - started)
    if verdict.note or verdict.findings:
        raise SystemExit(f"the example should lint clean from the cache: {verdict}")
    return samples


def session(cache: Path, lint: str) -> tuple[float, int, str]:
    """Wall time, exit code and the ``N passed`` summary of one example session."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    command = [sys.executable, "-m", "pytest", str(EXAMPLE), "--cloud-stack", "-q"]
    command += ["-p", "no:cacheprovider", "-o", f"cloud_stack_lint={lint}"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    counts = re.findall(r"(\d+ passed)", done.stdout)
    return wall, done.returncode, counts[-1] if counts else "no test passed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lint-bench-") as tmp:
        cache = Path(tmp) / "cache"
        micro = gate_on_critical_path(cache, args.repeat * 10)
        print(
            f"(1) gate on the critical path, cached verdict: median "
            f"{statistics.median(micro) * 1000:.1f} ms, max {max(micro) * 1000:.1f} ms "
            f"({len(micro)} runs; target <= 20 ms)"
        )
        walls: dict[str, list[float]] = {"off": [], "warm": [], "cold": []}
        outcomes: set[tuple[int, str]] = set()
        session(cache, "errors")  # warm every cache once (templates, zips, lint verdict)
        variants = list(walls)
        for round_number in range(args.repeat):
            # Rotate the order so that no variant always runs first after a pause.
            order = variants[round_number % 3 :] + variants[: round_number % 3]
            for variant in order:
                if variant == "cold":
                    shutil.rmtree(cache / "pytest-cloudstack" / "lint", ignore_errors=True)
                lint = "off" if variant == "off" else "errors"
                wall, code, passed = session(cache, lint)
                walls[variant].append(wall)
                outcomes.add((code, passed))
        if len(outcomes) != 1 or next(iter(outcomes))[0] != 0:
            raise SystemExit(f"runs did not all do the same work, no figure: {sorted(outcomes)}")
        print(f"(2) whole sessions, {next(iter(outcomes))[1]} each, {args.repeat} rounds:")
        for variant, samples in walls.items():
            print(f"    {variant:5} median {statistics.median(samples):5.2f} s")
        for variant in ("warm", "cold"):
            deltas = [a - b for a, b in zip(walls[variant], walls["off"], strict=True)]
            print(
                f"    {variant} - off per round: median {statistics.median(deltas) * 1000:+.0f} ms, "
                f"min {min(deltas) * 1000:+.0f} ms, max {max(deltas) * 1000:+.0f} ms"
            )


if __name__ == "__main__":
    main()
