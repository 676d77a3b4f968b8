"""The two clients under comparison, built the same way: bare zeep and soapguard.

Both load the same ``wsdl/ledger.wsdl`` from disk and call the benchmark
server through ``create_service``, so WSDL parsing never crosses the network.

The zeep baseline is plain default zeep: ``zeep.Client`` with a
``zeep.Transport`` over a default ``requests.Session`` (``trust_env`` on,
the machine's environment as it is) that verifies with the benchmark's CA
file.  One catch: with ``trust_env`` on, requests lets ``REQUESTS_CA_BUNDLE``
/ ``CURL_CA_BUNDLE`` *replace* ``session.verify``, so :func:`baseline_env`
points those variables at the same CA file while the baseline runs (the
look-ups requests does per request are the same whether they are set or not).
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import certifi
import requests
import zeep

import soapguard
from soapguard.testing.ledger import DEMO_CA_FILE, wsdl_dir

BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
WSDL = str(wsdl_dir() / "ledger.wsdl")
_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


def zeep_service(url: str, ca_file: str) -> tuple[zeep.Client, Any]:
    """Bare zeep, default session verifying with ``ca_file`` (use under :func:`baseline_env`)."""
    session = requests.Session()
    session.verify = ca_file
    transport = zeep.Transport(session=session)  # type: ignore[no-untyped-call]
    client = zeep.Client(WSDL, transport=transport)  # type: ignore[no-untyped-call]
    return client, client.create_service(BINDING, url)  # type: ignore[no-untyped-call]


def soapguard_service(url: str, **config: Any) -> tuple[soapguard.Client, Any]:
    """``soapguard.Client`` with ``Config(**config)`` (``GetBalance`` idempotent by default)."""
    config.setdefault("idempotent_operations", ("Get*",))
    client = soapguard.Client(WSDL, config=soapguard.Config(**config))
    return client, client.create_service(BINDING, url)


def drop_connections(client: zeep.Client) -> None:
    """Close every pooled connection of ``client`` so its next call opens a new one."""
    client.transport.session.close()


@contextmanager
def baseline_env(ca_file: str) -> Iterator[list[str]]:
    """Environment for the zeep baseline: CA variables -> ``ca_file``; loopback bypasses proxies.

    Yields notes on what was changed, for the report.
    """
    saved = {name: os.environ.get(name) for name in (*_CA_VARIABLES, "NO_PROXY", "no_proxy")}
    notes = [f"{name}={ca_file}" for name in _CA_VARIABLES]
    for name in _CA_VARIABLES:
        os.environ[name] = ca_file
    if any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES):
        # without this a proxy from the environment would carry the loopback calls
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
        notes.append("NO_PROXY=127.0.0.1,localhost (a proxy variable is set)")
    try:
        yield notes
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def public_bundle_with_demo_ca() -> Iterator[str]:
    """A temporary CA file: the public bundle requests uses (certifi) plus the demo CA."""
    with tempfile.TemporaryDirectory(prefix="soapguard-bench-") as tmp:
        path = Path(tmp) / "bundle.pem"
        public = Path(certifi.where()).read_bytes()
        path.write_bytes(public.rstrip(b"\n") + b"\n" + Path(DEMO_CA_FILE).read_bytes())
        yield str(path)


def tls_handshake(context: ssl.SSLContext, port: int) -> float:
    """Seconds for a bare TCP connect + TLS handshake to ``127.0.0.1:port`` with ``context``."""
    start = time.perf_counter()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        took = time.perf_counter() - start
    return took


def demo_ca() -> str:
    return DEMO_CA_FILE
