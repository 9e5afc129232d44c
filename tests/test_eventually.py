"""``eventually``: its three forms, timing, the last failure on timeout, bad input, the marker.

Everything runs in pytester projects, as users run it: the asserts inside the inner tests are
rewritten by pytest, which is what the messages on timeout must show.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.filterwarnings("error")


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_condition_true_after_300ms_passes_well_under_a_second(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import time
        from pytest_cloudstack import eventually

        def test_call_form():
            start = time.monotonic()
            value = eventually(lambda: time.monotonic() - start >= 0.3 and "ready", timeout=5)
            elapsed = time.monotonic() - start
            assert value == "ready"
            assert 0.3 <= elapsed < 0.7, elapsed

        def test_decorator_form():
            start = time.monotonic()

            @eventually(timeout=5)
            def result():
                assert time.monotonic() - start >= 0.3
                return "done"

            elapsed = time.monotonic() - start
            assert result == "done"
            assert 0.3 <= elapsed < 0.7, elapsed
        """,
    )
    result.assert_outcomes(passed=2)


def test_never_true_fails_at_the_deadline_with_the_last_rewritten_assertion(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        import time
        import pytest
        from pytest_cloudstack import eventually

        def test_timing():
            attempts = []
            start = time.monotonic()
            with pytest.raises(AssertionError) as raised:
                @eventually(timeout=0.5)
                def _():
                    attempts.append(1)
                    assert len(attempts) == -1
            elapsed = time.monotonic() - start
            assert 0.5 <= elapsed < 0.8, elapsed
            text = str(raised.value)
            # the last attempt's values, not the first's
            assert f"assert {len(attempts)} == -1" in text
            assert f"gave up after {len(attempts)} attempts in 0.5" in text

        def test_report():
            seen = []

            @eventually(timeout=0.3)
            def _():
                seen.append(len(seen))
                status = {"state": f"PENDING-{len(seen)}"}
                assert status["state"] == "PAID"
        """,
    )
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    # pytest's rewritten message of the *last* attempt, with the attempts and elapsed time
    last = re.search(r"gave up after (\d+) attempts in 0\.3\d s", output)
    assert last is not None, output
    attempts = int(last.group(1))
    assert f"AssertionError: assert 'PENDING-{attempts}' == 'PAID'" in output
    assert f"PENDING-{attempts - 1}'" not in output
    # the user's line is shown, the helper's frames are not
    assert 'assert status["state"] == "PAID"' in output
    assert "pytest_cloudstack/eventually.py" not in output
    assert "tenacity" not in output


def test_a_predicate_that_stays_false_names_itself_and_its_last_value(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        from pytest_cloudstack import eventually

        def test_false():
            items = {}
            eventually(lambda: items.get("order-1") is not None, timeout=0.2)

        def test_none():
            def lookup():
                return None
            eventually(lookup, timeout=0.1)
        """,
    )
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert (
        '<lambda> at test_inner.py:5 (eventually(lambda: items.get("order-1") is not None, '
        "timeout=0.2)) returned False" in output
    )
    assert "lookup at test_inner.py:8 (def lookup():) returned None" in output
    assert "for a function that asserts, use @eventually(...) on it, or return True" in output
    assert "pytest_cloudstack/eventually.py" not in output


def test_only_assertions_and_named_transient_aws_errors_are_retried(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        import time
        import pytest
        from botocore.exceptions import ClientError
        from pytest_cloudstack import eventually

        def aws_error(code, message="x"):
            return ClientError({"Error": {"Code": code, "Message": message}}, "GetItem")

        def failing_then_ok(errors):
            calls = []
            def call():
                calls.append(1)
                if len(calls) <= len(errors):
                    raise errors[len(calls) - 1]
                return "ok"
            return call, calls

        @pytest.mark.parametrize("error", [
            aws_error("ThrottlingException"),
            aws_error("ProvisionedThroughputExceededException"),
            aws_error("ResourceNotFoundException"),
            aws_error("InvalidParameterValueException",
                      "The role defined for the function cannot be assumed by Lambda."),
        ])
        def test_transient(error):
            call, calls = failing_then_ok([error, error])
            assert eventually(call, timeout=5) == "ok"
            assert len(calls) == 3

        @pytest.mark.parametrize("error", [
            aws_error("ValidationException"),
            aws_error("AccessDeniedException"),
            KeyError("status"),
            TypeError("bad"),
        ])
        def test_not_retried(error):
            call, calls = failing_then_ok([error])
            start = time.monotonic()
            with pytest.raises(type(error)) as raised:
                eventually(call, timeout=5)
            assert raised.value is error
            assert len(calls) == 1
            assert time.monotonic() - start < 0.1

        def test_retry_on_adds_types():
            call, calls = failing_then_ok([KeyError("status")])
            assert eventually(call, timeout=5, retry_on=(KeyError,)) == "ok"
            assert len(calls) == 2

        def test_a_transient_error_at_the_deadline_is_raised_with_the_attempts():
            def call():
                raise aws_error("ThrottlingException", "Rate exceeded")
            with pytest.raises(ClientError) as raised:
                eventually(call, timeout=0.2)
            assert "Rate exceeded" in str(raised.value)
            assert any("gave up after" in note for note in getattr(raised.value, "__notes__", []))
        """,
    )
    result.assert_outcomes(passed=10)


def test_bad_arguments_fail_at_once(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import time
        import pytest
        from pytest_cloudstack import eventually

        @pytest.mark.parametrize("kwargs, error, text", [
            ({"timeout": 0}, ValueError, "timeout must be a positive, finite number"),
            ({"timeout": -1}, ValueError, "timeout must be a positive"),
            ({"timeout": float("nan")}, ValueError, "timeout must be a positive"),
            ({"timeout": float("inf")}, ValueError, "timeout must be a positive"),
            ({"timeout": "30"}, TypeError, "timeout must be a number of seconds"),
            ({"timeout": True}, TypeError, "timeout must be a number of seconds"),
            ({"interval": 0}, ValueError, "interval must be a positive"),
            ({"interval": 2, "max_interval": 1}, ValueError, "must not be smaller than interval"),
            ({"retry_on": KeyError}, TypeError, "retry_on must be a tuple of exception types"),
        ])
        def test_bad_options(kwargs, error, text):
            start = time.monotonic()
            with pytest.raises(error, match=text):
                eventually(lambda: True, **kwargs)
            with pytest.raises(error, match=text):
                eventually(**kwargs)
            assert time.monotonic() - start < 0.1

        def test_not_callable():
            with pytest.raises(TypeError, match="takes a callable"):
                eventually(True, timeout=5)
            with pytest.raises(TypeError, match="takes a callable"):
                eventually(30)
            with pytest.raises(TypeError, match="must decorate a function"):
                eventually(timeout=5)("not a function")
        """,
    )
    result.assert_outcomes(passed=10)


def test_backoff_starts_at_tens_of_ms_and_stays_bounded(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import time
        import pytest
        from pytest_cloudstack import eventually

        def test_schedule():
            stamps = []
            def never():
                stamps.append(time.monotonic())
                return False
            with pytest.raises(AssertionError):
                eventually(never, timeout=2)
            gaps = [b - a for a, b in zip(stamps, stamps[1:])]
            assert 0.015 <= gaps[0] <= 0.08, gaps[:3]
            # capped at 100 ms in the first seconds (plus scheduling noise)
            assert max(gaps) < 0.2, max(gaps)  # uncapped, they would reach 0.6 s in 2 s
            # about 1/75 ms after the ramp: bounded, nowhere near a busy loop
            assert 15 <= len(stamps) <= 40, len(stamps)
            # the last attempt is made at the deadline, not an interval past it
            assert 1.9 <= stamps[-1] - stamps[0] <= 2.15
        """,
    )
    result.assert_outcomes(passed=1)


def test_marker_retries_the_call_and_never_the_fixtures(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        setups = []
        calls = []

        @pytest.fixture
        def resource():
            setups.append(1)
            return {"ready_after": 3}

        @pytest.mark.eventually(timeout=5)
        def test_flaky_call(resource):
            calls.append(1)
            assert len(calls) >= resource["ready_after"]

        def test_counts():
            assert (len(setups), len(calls)) == (1, 3)

        @pytest.mark.eventually(0.3)
        def test_times_out():
            calls.append(1)
            assert len(calls) < 0, "still not consistent"

        @pytest.mark.eventually(timeout=5)
        def test_other_errors_fail_at_once():
            raise KeyError("missing")
        """,
        "-v",
    )
    result.assert_outcomes(passed=2, failed=2)
    output = result.stdout.str()
    assert re.search(r"AssertionError: still not consistent\n.*assert \d+ < 0", output), output
    assert re.search(r"gave up after \d+ attempts in 0\.3\d s", output)
    assert "KeyError: 'missing'" in output
    assert "pytest_cloudstack/eventually.py" not in output


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "eventually(timeout=5, retries=3)",
            "unknown argument retries (valid: timeout, interval, max_interval)",
        ),
        ("eventually(timeout=0)", "timeout must be a positive, finite number of seconds, not 0"),
        ("eventually(1, 2)", "takes at most one positional argument (the timeout), got 2"),
        ("eventually(5, timeout=5)", "timeout given twice (positional and keyword)"),
    ],
)
def test_a_bad_marker_is_a_usage_error_at_collection(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    result = run(
        pytester,
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_x():
            pass
        """,
        "--collect-only",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: test_inner.py::test_x: @pytest.mark.eventually {message}"]
    )


def test_marker_is_registered_with_its_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.eventually(timeout=30, interval=0.04, max_interval=1.0): retry the test call*"
        ]
    )
    # --strict-markers accepts it
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.eventually(timeout=1)
        def test_x():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
