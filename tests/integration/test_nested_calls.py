"""A call made inside another soapguard call runs under its own rules, with its own evidence.

Whether a call is guarded is decided by the attempt handle the client passes its
transport, never by ambient state: a plain ``zeep.Client`` on a ``soapguard.Transport``
used from inside another soapguard attempt (e.g. by a plugin) gets its own retries and
events, and leaves the outer attempt's evidence alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from zeep import Plugin

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)
FAST = {"backoff_initial": 0.001, "backoff_max": 0.002}


class _LookupPlugin(Plugin):  # type: ignore[misc]
    """Makes another SOAP call while the outer call's envelope is being built."""

    def __init__(self, nested: Any) -> None:
        self.nested = nested
        self.errors: list[BaseException] = []

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any) -> Any:
        try:
            self.nested.GetBalance(account="7")
        except (requests.RequestException, zeep.exceptions.Error) as exc:
            self.errors.append(exc)
        return envelope, http_headers


def test_a_nested_plain_zeep_call_keeps_its_own_rules_and_evidence(
    make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    outer_server, inner_server = make_ledger(), make_ledger()
    inner_events: list[dict[str, Any]] = []
    inner_config = Config(
        ca_bundle=ca_file, idempotent_operations=("Get*",), on_event=inner_events.append, **FAST
    )
    inner = zeep.Client(inner_server.wsdl_url, transport=soapguard.Transport(config=inner_config))
    plugin = _LookupPlugin(inner.create_service(BINDING, inner_server.url))
    outer_events: list[dict[str, Any]] = []
    outer = soapguard.Client(
        outer_server.wsdl_url,
        config=Config(ca_bundle=ca_file, on_event=outer_events.append, **FAST),
        plugins=[plugin],
    )
    inner_server.fail_next(503, times=3)
    assert outer.service.GetBalance(account="42").account == "42"
    # the nested call: three attempts under its own rules, then its own failure
    assert inner_server.requests_seen == 3
    assert [e["event"] for e in inner_events] == [
        "soapguard.attempt_failed",
        "soapguard.attempt_failed",
        "soapguard.attempt_failed",
        "soapguard.call_failed",
    ]
    assert len(plugin.errors) == 1
    # the outer call's own attempt was untouched by it
    assert outer_events == []
    assert outer_server.requests_seen == 1
