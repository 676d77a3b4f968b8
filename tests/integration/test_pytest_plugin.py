"""The pytest plugin: ``soap_fault_proxy`` in a real pytest run, and a cheap, inert import."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from soapguard.testing.ledger import LedgerServer
from soapguard.testing.pytest_plugin import parse_upstream

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "soapguard.testing.pytest_plugin"

USER_TESTS = """
import pytest
import requests

import soapguard
from soapguard.testing import Fault

BINDING = "{{urn:soapguard:ledger}}LedgerSoapBinding"
started = []


def test_fault_reaches_the_client(soap_fault_proxy):
    proxy = soap_fault_proxy(("127.0.0.1", {port}))
    started.append(proxy)
    proxy.add_fault(Fault.flip_response_record(n=1))
    client = soapguard.Client({wsdl!r}, config=soapguard.Config(ca_bundle={ca!r}))
    service = client.create_service(BINDING, f"https://127.0.0.1:{{proxy.port}}/ledger")
    with pytest.raises(requests.exceptions.SSLError) as info:
        service.GetBalance(account="1")
    assert info.value.report["error.type"] == "tls.bad_record_mac"
    assert proxy.stats().fired[0].kind == "flip-response-record"
    assert service.GetBalance(account="1").account == "1"
    client.transport.close()


def test_string_upstream_and_several_proxies(soap_fault_proxy):
    first = soap_fault_proxy("127.0.0.1:{port}")
    second = soap_fault_proxy("127.0.0.1:{port}", lifetime=30)
    started.extend([first, second])
    assert first.running and second.running and first.port != second.port


def test_every_proxy_was_stopped_at_teardown():
    assert len(started) == 3
    assert not any(proxy.running for proxy in started)
"""


def plugin_args() -> list[str]:
    """Load the plugin explicitly unless its entry point is installed (then it loads itself)."""
    installed = [ep for ep in metadata.entry_points(group="pytest11") if ep.value == PLUGIN]
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    return [] if installed and autoload else ["-p", PLUGIN]


def test_fixture_in_a_real_pytest_run(
    pytester: pytest.Pytester,
    ledger: LedgerServer,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(ROOT / "src"), pythonpath) if p)
    )
    pytester.makepyfile(
        test_user=USER_TESTS.format(port=ledger.port, wsdl=ledger.wsdl_url, ca=ca_file)
    )
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_fixture_is_listed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))
    result = pytester.runpytest_subprocess(*plugin_args(), "--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*soap_fault_proxy*"])


def test_import_is_cheap_and_inert() -> None:
    code = (
        "import sys, threading; import soapguard.testing.pytest_plugin; "
        "heavy = [m for m in ('zeep', 'requests', 'urllib3', 'lxml') if m in sys.modules]; "
        "print(heavy, threading.active_count())"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.split() == ["[]", "1"]


def test_entry_point_is_declared() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"]["soapguard"] == PLUGIN


@pytest.mark.parametrize(
    ("upstream", "parsed"),
    [
        (("127.0.0.1", 8443), ("127.0.0.1", 8443)),
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("[::1]:8443", ("::1", 8443)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_upstream(upstream: tuple[str, int] | str, parsed: tuple[str, int]) -> None:
    assert parse_upstream(upstream) == parsed


@pytest.mark.parametrize("bad", ["8443", "host:", ":8443", "host:port", ("h", "1"), ("h", True)])
def test_parse_upstream_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="upstream must be"):
        parse_upstream(bad)  # type: ignore[arg-type]
