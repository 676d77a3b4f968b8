"""``soapguard proxy``: an unreachable upstream is told once, then counted (no flood)."""

from __future__ import annotations

import json

import pytest

from soapguard.cli.proxy.feed import Output, UpstreamFeed
from soapguard.testing import ProxyStats, UpstreamFailure

UPSTREAM = "10.0.0.7:8443"


def stats(failures: int, connection: int = 1, error: str = "timed out") -> ProxyStats:
    last = UpstreamFailure(connection, error) if failures else None
    return ProxyStats(
        connections=failures,
        requests=0,
        fired=(),
        missed=(),
        connection_records=(),
        active=0,
        rejected=0,
        upstream_failures=failures,
        last_upstream_failure=last,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_failure_in_full_then_one_count_line_per_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    feed, out = UpstreamFeed(UPSTREAM, every=10.0, clock=clock), Output(json_mode=False)
    feed.new(stats(0), out)
    assert capsys.readouterr().out == ""
    feed.new(stats(1, error="[Errno 111] Connection refused"), out)
    assert capsys.readouterr().out == (
        f"upstream {UPSTREAM} failed to connect: [Errno 111] Connection refused; "
        "connection 1 from the client was reset\n"
    )
    for count in range(2, 500):  # a flood within the interval: nothing printed
        clock.now += 0.01
        feed.new(stats(count, connection=count), out)
    assert capsys.readouterr().out == ""
    clock.now += 10.0
    feed.new(stats(500, connection=500), out)
    assert capsys.readouterr().out == (
        f"upstream {UPSTREAM}: 499 more connects failed (latest: timed out, connection 500)\n"
    )
    feed.new(stats(503, connection=503), out, final=True)  # stopping: flush what is left
    assert "3 more connects failed" in capsys.readouterr().out
    feed.new(stats(503, connection=503), out, final=True)
    assert capsys.readouterr().out == ""


def test_several_failures_before_the_first_look_are_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed = UpstreamFeed(UPSTREAM, clock=Clock())
    feed.new(stats(3, connection=3), Output(json_mode=True))
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "event": "upstream_error",
        "upstream": UPSTREAM,
        "failures": 3,
        "connection": 3,
        "error": "timed out",
    }
