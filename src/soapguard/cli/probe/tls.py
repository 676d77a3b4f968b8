"""TLS measurements for ``soapguard probe``: one handshake, its certificate chain, one GET.

Every connection here is made with the client's own code path
(:func:`soapguard.tls.context_for` on a :class:`~soapguard.Config` variant) and
every failure is named by :func:`soapguard.classify.classify`, so what the
probe reports is what ``soapguard.Client`` would see.  Each step is bounded by
a timeout; nothing is retried.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...classify.core import classify
from ...config import Config
from ...diagnostics.redact import redact_text
from ...tls import context as tls
from ...tls import profiles
from ...tls import trace as _trace
from ...tls.trust import resolve_trust
from ...transport.evidence import Attempt as Evidence
from ...transport.evidence import ConnInfo
from .advice import mfl_verdict
from .cert import chain_of

#: largest response the GET reads (bytes); enough to see the record sizes
MAX_FETCH = 1 << 20
#: the max_fragment_length the record-size check asks for
MFL_CAP = 512


@dataclass(frozen=True)
class Target:
    """The endpoint being probed, and how its certificate is verified."""

    host: str
    port: int
    #: path and query sent in the GET (the URL itself, e.g. ``/svc?wsdl``)
    path: str
    #: what verifies the certificate: True (the Config's CA bundle or the system store)
    #: or a CA path from REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, as the client resolves it
    trust: bool | str = True
    #: where that trust comes from, for people (never the path: it may be sensitive)
    trust_label: str = "the system store"


@dataclass
class Attempt:
    """One TCP+TLS connection attempt (and, for a fetch, one GET on it)."""

    ok: bool = False
    verified: bool = True
    tls_version: str | None = None
    cipher: str | None = None
    error: dict[str, Any] | None = None
    connect_ms: float | None = None
    handshake_ms: float | None = None
    #: set by :func:`fetch`
    status: int | None = None
    bytes_in: int = 0
    first_byte_ms: float | None = None
    largest_record_in: int | None = None
    records_in: int | None = None
    caps_applied: bool | None = None
    negotiated_mfl: int | None = None
    #: the last alert the client sent, ``[level, description]`` (``[1, 100]``: it declined
    #: the server's request to renegotiate)
    alert_out: list[int] | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)
    #: the SSLCertVerificationError's verify_code when the certificate was rejected
    verify_code: int | None = None


def trust_for(config: Config, environ: Mapping[str, str]) -> tuple[bool | str, str]:
    """How ``soapguard.Client`` verifies certificates with ``config``, and a label for it.

    The client's own order (:func:`soapguard.tls.trust.resolve_trust`), for a session
    without a path of its own; ``--ca-bundle`` is the probe's ``Config.ca_bundle``.
    """
    trust = resolve_trust(config, None, environ)
    names = {"Config.ca_bundle": "--ca-bundle", "system store": "the system store"}
    return trust.verify, names.get(trust.source, trust.source)


def error_fields(exc: BaseException, sock: ssl.SSLSocket | None = None) -> dict[str, Any]:
    """The classified failure, as the event fields a person needs.

    With the ``sock`` of a failed handshake, its traced records are evidence too, as
    they are for the client (a refusal as the server's only record is no shared cipher).
    """
    seen = None
    records = _trace.stats_for(sock) if sock is not None else None
    if records is not None:
        seen = Evidence(phase="handshake", conn=ConnInfo("", 0, records=records))
    failure = classify(exc, seen)
    fields: dict[str, Any] = {
        "error.type": failure.type,
        "error.origin": failure.origin,
        "openssl.reason": failure.reason,
        "error.message": failure.message,
    }
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        fields["verify_message"] = redact_text(str(exc.verify_message))
    return fields


def handshake(target: Target, config: Config, *, verify: bool, timeout: float) -> Attempt:
    """Connect and handshake once; the result carries the chain when it succeeded."""
    attempt = Attempt(verified=verify)
    sock = _open(target, config, verify, timeout, attempt)
    if sock is not None:
        with sock:
            attempt.chain = chain_of(sock, verified=verify)
    return attempt


def fetch(target: Target, config: Config, *, timeout: float, verify: bool = True) -> Attempt:
    """One ``GET`` of the target with ``config``; measures records and the first byte."""
    attempt = Attempt(verified=verify)
    sock = _open(target, config, verify, timeout, attempt)
    if sock is None:
        return attempt
    with sock:
        deadline = time.monotonic() + timeout
        request = (
            f"GET {target.path} HTTP/1.1\r\nHost: {_host_header(target)}\r\n"
            "User-Agent: soapguard-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
        try:
            sent = time.perf_counter()
            sock.sendall(request.encode("ascii"))
            _read_response(sock, attempt, sent, deadline)
        except (OSError, ValueError) as exc:
            attempt.ok = False
            attempt.error = error_fields(exc)
        info = ConnInfo(target.host, target.port)
        with contextlib.suppress(OSError, ValueError):  # broken: keep what was measured
            tls.describe_connection(sock, info)
        attempt.caps_applied = info.caps_applied
        attempt.negotiated_mfl = info.max_fragment_length
        records = _trace.stats_for(sock)
        if records is not None:
            attempt.largest_record_in = records.largest_record_in
            attempt.records_in = records.records_in
            attempt.alert_out = list(records.alert_out) if records.alert_out else None
    return attempt


def _open(
    target: Target, config: Config, verify: bool, timeout: float, attempt: Attempt
) -> ssl.SSLSocket | None:
    try:
        ctx = tls.context_for(
            config, verify=target.trust if verify else False, ca_source=target.trust_label
        )
    except (ssl.SSLError, OSError, ValueError) as exc:  # e.g. no suite left for this variant
        attempt.error = {"error.type": "config", "error.message": redact_text(str(exc))}
        return None
    started = time.perf_counter()
    try:
        raw = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        attempt.error = error_fields(exc)
        return None
    attempt.connect_ms = _ms(started)
    try:
        sock = ctx.wrap_socket(raw, server_hostname=target.host, do_handshake_on_connect=False)
    except (ssl.SSLError, OSError) as exc:
        raw.close()
        attempt.error = error_fields(exc)
        return None
    started = time.perf_counter()
    try:
        sock.do_handshake()
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        attempt.error = error_fields(exc, sock)
        if isinstance(exc, ssl.SSLCertVerificationError):
            attempt.verify_code = exc.verify_code
        return None
    attempt.handshake_ms = _ms(started)
    attempt.ok = True
    version = sock.version()
    attempt.tls_version = profiles.version_name(version) if version else None
    cipher = sock.cipher()
    attempt.cipher = cipher[0] if cipher else None
    return sock


def _read_response(sock: ssl.SSLSocket, attempt: Attempt, sent: float, deadline: float) -> None:
    data = bytearray()
    head_end = -1
    expected: int | None = None
    while len(data) < MAX_FETCH:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the response did not complete in time")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if attempt.first_byte_ms is None:
            attempt.first_byte_ms = _ms(sent)
        if not chunk:
            break
        data += chunk
        if head_end < 0 and (head_end := data.find(b"\r\n\r\n")) >= 0:
            attempt.status, expected, chunked = _parse_head(bytes(data[:head_end]))
            if chunked:
                expected = None
        if head_end >= 0 and expected is not None and len(data) - head_end - 4 >= expected:
            break
        if head_end >= 0 and data.endswith(b"\r\n0\r\n\r\n"):
            break
    attempt.bytes_in = len(data)
    if head_end < 0:
        raise ValueError("no HTTP response head received")
    attempt.ok = True


def _parse_head(head: bytes) -> tuple[int | None, int | None, bool]:
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/\d(?:\.\d)? (\d{3})", lines[0])
    status = int(match.group(1)) if match else None
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length" and value.strip().isdigit():
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    return status, length, chunked


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == 443 else f"{host}:{target.port}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def record_size(target: Target, working: Config, timeout: float, verify: bool) -> dict[str, Any]:
    """GET the target without and with max_fragment_length=512: is the cap honoured?"""
    uncapped = fetch(
        target, dataclasses.replace(working, max_record_size=None), timeout=timeout, verify=verify
    )
    capped = fetch(
        target,
        dataclasses.replace(working, max_record_size=MFL_CAP),
        timeout=timeout,
        verify=verify,
    )
    before, after = _fetch_fields(uncapped), _fetch_fields(capped)
    verdict, detail = mfl_verdict(MFL_CAP, before, after)
    return {
        "cap": MFL_CAP,
        "verdict": verdict,
        "detail": detail,
        "uncapped": before,
        "capped": after,
        "verified": verify,
    }


def _fetch_fields(attempt: Attempt) -> dict[str, Any]:
    keys = (
        "ok",
        "status",
        "bytes_in",
        "first_byte_ms",
        "largest_record_in",
        "records_in",
        "caps_applied",
        "negotiated_mfl",
        "tls_version",
        "alert_out",
        "error",
    )
    return {key: getattr(attempt, key) for key in keys}
