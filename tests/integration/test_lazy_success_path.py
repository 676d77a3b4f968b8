"""Calls that succeed never load what only a failure needs (each run in a fresh interpreter).

Classifying a failure, its hint, the retry library's backoff and event building load with
the first failure; a process whose calls all succeed does none of that work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

FAILURE_ONLY = (
    "tenacity",
    "soapguard.classify.rules",
    "soapguard.classify.tls",
    "soapguard.diagnostics.hints",
)


def _run(ledger: Any, ca_file: str, calls: str) -> tuple[set[str], list[str]]:
    script = f"""
import json, sys
import soapguard
events = []
config = soapguard.Config(ca_bundle={ca_file!r}, idempotent_operations=("Get*",),
                          on_event=events.append, backoff_initial=0.001, backoff_max=0.002)
client = soapguard.Client({ledger.wsdl_url!r}, config=config)
{calls}
print(json.dumps([sorted(sys.modules), [e["event"] for e in events]]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=100, check=True
    )
    modules, events = json.loads(done.stdout.splitlines()[-1])
    return set(modules), events


def test_successful_calls_load_nothing_a_failure_needs(ledger: Any, ca_file: str) -> None:
    calls = "for i in range(3):\n    assert client.service.GetBalance(account=str(i))"
    modules, events = _run(ledger, ca_file, calls)
    assert events == []
    assert [name for name in FAILURE_ONLY if name in modules] == []


def test_a_failure_loads_them_and_is_reported_in_full(ledger: Any, ca_file: str) -> None:
    """The same set loads on the first failure (so the test above can fail)."""
    calls = (
        "service = client.create_service('{urn:soapguard:ledger}LedgerSoapBinding',"
        " 'https://127.0.0.1:1/ledger')\n"
        "try:\n    service.GetBalance(account='1')\nexcept soapguard.SoapGuardError:\n    pass"
    )
    modules, events = _run(ledger, ca_file, calls)
    assert [name for name in FAILURE_ONLY if name not in modules] == []
    assert events[-1] == "soapguard.call_failed"
