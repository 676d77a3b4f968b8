"""Secret scopes: what a client knows is secret, and which call it applies to."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
from zeep.wsse import Compose
from zeep.wsse.username import UsernameToken

import soapguard
from soapguard.diagnostics.redact import redact_text
from soapguard.diagnostics.secrets import (
    SecretScope,
    active_scope,
    auth_secrets,
    call_scope,
    session_secrets,
    url_secrets,
)


def test_url_secrets_are_the_password_and_credential_parameters_not_the_user() -> None:
    found = url_secrets("https://alice:p%40ss-word@h/svc;jsessionid=sess-123?wsdl&apikey=key-456")
    assert {"p@ss-word", "p%40ss-word", "sess-123", "key-456"} <= found
    assert base64.b64encode(b"alice:p@ss-word").decode() in found  # what requests sends
    assert "alice" not in found
    assert url_secrets("https://h/svc?wsdl") == set()
    assert url_secrets("http://[::1") == set()


def test_auth_secrets_cover_tuples_and_auth_objects() -> None:
    basic = base64.b64encode(b"bob:hunter22").decode()
    assert auth_secrets(("bob", "hunter22")) == {"hunter22", basic}
    assert auth_secrets(HTTPBasicAuth("bob", "hunter22")) == {"hunter22", basic}
    assert "hunter22" in auth_secrets(HTTPDigestAuth("bob", "hunter22"))
    assert auth_secrets(None) == set()


def test_session_secrets_read_headers_cookies_and_proxies_when_asked() -> None:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer tok-123456"
    session.headers["Content-Type"] = "text/xml"
    session.cookies.set("JSESSIONID", "cookie-value-1")
    session.proxies["https"] = "http://proxy-user:proxy-pw-1@proxy:3128"
    found = session_secrets(session)
    assert {"Bearer tok-123456", "tok-123456", "cookie-value-1", "proxy-pw-1"} <= found
    assert "text/xml" not in found


def test_a_client_knows_its_wsse_session_and_endpoint_secrets(ca_file: str) -> None:
    wsdl = str(Path(__file__).resolve().parents[2] / "wsdl" / "ledger.wsdl")
    wsse = Compose([UsernameToken("u", "wsse-pw-1"), UsernameToken("v", password_digest="dg-2x")])
    client = soapguard.Client(wsdl, wsse=wsse, config=soapguard.Config(ca_bundle=ca_file))
    client.transport.session.auth = ("bob", "session-pw-2")  # set after construction
    client.create_service("{urn:soapguard:ledger}LedgerSoapBinding", "https://h/x?token=tok-3")
    values = client.secrets.values()
    assert {"wsse-pw-1", "dg-2x", "session-pw-2", "tok-3"} <= values
    other = soapguard.Client(wsdl, config=soapguard.Config(ca_bundle=ca_file))
    assert not values & other.secrets.values()


def test_a_broken_source_does_not_break_redaction() -> None:
    scope = SecretScope()
    scope.add_source(lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    scope.add("still-masked-1")
    with call_scope(scope):
        assert redact_text("still-masked-1") == "***"


def test_the_active_scope_is_per_thread_and_restored() -> None:
    outer, inner = SecretScope(), SecretScope()
    seen: list[SecretScope | None] = []
    with call_scope(outer):
        with call_scope(inner):
            assert active_scope() is inner
            thread = threading.Thread(target=lambda: seen.append(active_scope()))
            thread.start()
            thread.join()
        assert active_scope() is outer
    assert active_scope() is None
    assert seen == [None]
