"""Redaction rules, and zeep's own envelope logging made safe by the filter."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import requests_mock
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from soapguard.diagnostics import logs as logredact
from soapguard.diagnostics._patterns import is_secret_header
from soapguard.diagnostics.logs import RedactingFilter, install_log_redaction
from soapguard.diagnostics.redact import (
    MASK,
    redact_message,
    redact_text,
    redact_url,
    redact_xml,
    truncate,
)
from soapguard.diagnostics.secrets import SecretScope, call_scope

WSDL = Path(__file__).resolve().parents[2] / "wsdl" / "ledger.wsdl"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

ENVELOPE = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsse="{WSSE}">
  <soap:Header>
    <wsse:Security>
      <wsse:UsernameToken>
        <wsse:Username>bob</wsse:Username>
        <wsse:Password Type="urn:x#PasswordText">hunter2</wsse:Password>
        <wsse:Nonce EncodingType="urn:x#Base64Binary">bm9uY2UtdmFs</wsse:Nonce>
      </wsse:UsernameToken>
    </wsse:Security>
  </soap:Header>
  <soap:Body>
    <Login pin="4321" lang="en"><Pin>9876<Digit>5</Digit>tail-7</Pin><Amount>12</Amount></Login>
  </soap:Body>
</soap:Envelope>"""


def test_xml_masks_wsse_password_and_nonce_and_keeps_structure() -> None:
    out = redact_xml(ENVELOPE)
    assert "hunter2" not in out
    assert "bm9uY2UtdmFs" not in out
    root = etree.fromstring(out.split("?>", 1)[1].encode())  # still well-formed XML
    ns = {"wsse": WSSE}
    assert root.findtext(".//wsse:Password", namespaces=ns) == MASK
    assert root.findtext(".//wsse:Nonce", namespaces=ns) == MASK
    assert root.findtext(".//wsse:Username", namespaces=ns) == "bob"
    # the Type attribute is metadata, not the secret
    assert root.find(".//wsse:Password", ns).get("Type") == "urn:x#PasswordText"
    assert out.startswith('<?xml version="1.0" encoding="utf-8"?>')


def test_xml_any_namespace_or_prefix_matches_by_local_name() -> None:
    doc = '<a xmlns:p="urn:other"><p:Password>one</p:Password><password>two</password></a>'
    out = redact_xml(doc)
    assert "one" not in out
    assert "two" not in out
    assert "<p:Password>***</p:Password>" in out


def test_xml_local_names_containing_password_are_masked() -> None:
    out = redact_xml("<r><NewPassword>abc123</NewPassword><Username>u</Username></r>")
    assert "abc123" not in out
    assert "<Username>u</Username>" in out


def test_xml_sensitive_elements_mask_their_whole_subtree() -> None:
    out = redact_xml(ENVELOPE.encode(), sensitive=["Pin"])
    for secret in ("9876", "<Digit>5</Digit>", "tail-7"):
        assert secret not in out
    assert "<Digit>***</Digit>" in out  # structure kept
    assert "<Amount>12</Amount>" in out


def test_xml_sensitive_attributes_are_masked() -> None:
    out = redact_xml(ENVELOPE, sensitive=["pin"])
    assert 'pin="***"' in out
    assert 'lang="en"' in out
    assert "4321" not in out


def test_xml_without_sensitive_names_leaves_other_text_alone() -> None:
    out = redact_xml(ENVELOPE)
    assert "9876" in out  # not marked sensitive: kept
    assert 'pin="4321"' in out


def test_xml_does_not_expand_entities() -> None:
    doc = '<!DOCTYPE r [<!ENTITY e "expanded-value">]><r><v>&e;</v></r>'
    out = redact_xml(doc)
    assert "expanded-value</v>" not in out
    assert "&e;" in out


@pytest.mark.parametrize(
    ("payload", "leaked"),
    [
        ("HTTP body: <wsse:Password Type='t'>hunter2</wsse:Password> trailing", "hunter2"),
        ("<a><Password>hunter2</Password>", "hunter2"),  # unclosed root
        ("<Envelope><wsse:Password>hunter2", "hunter2"),  # truncated mid-secret
        ("<x:Nonce>abc<![CDATA[def]]></x:Nonce> not xml <", "def"),
        ("<a><Password>sec<ret</Password>", "ret"),  # not even well-formed text
        ("b'--uuid\\r\\n<Password>hunter2</Password>\\r\\n--uuid'", "hunter2"),
        ('<Login password="hunter2" user="u"', "hunter2"),
    ],
)
def test_non_xml_input_falls_back_to_regex(payload: str, leaked: str) -> None:
    out = redact_xml(payload)
    assert leaked not in out
    assert MASK in out


def test_non_xml_fallback_honours_sensitive_names() -> None:
    out = redact_xml("<a><Pin>9876</Pin> broken", sensitive=["pin"])
    assert "9876" not in out


def test_unclosed_sensitive_element_is_masked_to_the_end_nested_markup_included() -> None:
    out = redact_xml("<a><Pin>9876<Digit>5</Digit>tail-7", sensitive=["pin"])
    assert out == "<a><Pin>***"


@pytest.mark.parametrize(
    "text",
    [
        "faultstring: &lt;wsse:Password Type=&quot;t&quot;&gt;hunter2&lt;/wsse:Password&gt; end",
        "faultstring: &lt;acct:Account&gt;hunter2&lt;/acct:Account&gt; end",
        "echo: <Login account='hunter2'/> and &lt;Login account=&quot;hunter2&quot;/&gt;",
    ],
)
def test_text_masks_raw_and_escaped_markup(text: str) -> None:
    out = redact_text(text, sensitive=["account"])
    assert "hunter2" not in out
    assert out.endswith(" end") or out.endswith("/&gt;")


def test_self_closing_and_other_elements_are_left_alone() -> None:
    out = redact_text("<Password/> <Amount>12</Amount> <Password></Password>")
    assert out == "<Password/> <Amount>12</Amount> <Password></Password>"


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "COOKIE",
        "Set-Cookie",
        "x-api-key",
        "X-Auth-Token",
        "X-Custom-Token",
        "X-Client-Secret",
        "X-Password",
        "My-Api-Key",
    ],
)
def test_header_lines_masked_case_insensitively(name: str) -> None:
    assert is_secret_header(name)
    text = redact_text(f"{name}: v4lue-of-it\nSOAPAction: urn:x/Get")
    assert "v4lue-of-it" not in text
    assert "SOAPAction: urn:x/Get" in text


@pytest.mark.parametrize("name", ["Content-Type", "SOAPAction", "Accept", "User-Agent"])
def test_other_headers_are_not_secret(name: str) -> None:
    assert not is_secret_header(name)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bob:hunter2@host:8443/svc", "https://***@host:8443/svc"),
        ("https://bob@host/svc", "https://***@host/svc"),
        ("https://u:p@ss@host/x", "https://***@host/x"),
        ("https://host/svc?wsdl", "https://host/svc?wsdl"),
        ("https://host/s?a=1&password=x&b=2", "https://host/s?a=1&password=***&b=2"),
        ("https://host/s?API_KEY=x;sig=y", "https://host/s?API_KEY=***;sig=***"),
        ("https://host/s?access_token=t#frag", "https://host/s?access_token=***#frag"),
        ("https://host/s#id_token=t&state=1", "https://host/s#id_token=***&state=1"),
        ("https://host/app;jsessionid=ABC?x=1", "https://host/app;jsessionid=***?x=1"),
        ("https://host/s?my_token=t&key=k&code=c", "https://host/s?my_token=***&key=***&code=***"),
        ("https://host/s?password=", "https://host/s?password="),
    ],
)
def test_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.https://bob:pw@h/x", "https://***@h/x"),
        ("://https://bob:pw@h/x", "://https://***@h/x"),
        ("http://a/?x=1https://bob:pw@h/x", "http://a/?x=1https://***@h/x"),
        ("x://y https://bob:pw@h/x :// z", "x://y https://***@h/x :// z"),
    ],
)
def test_urls_glued_to_other_text_are_still_found(text: str, expected: str) -> None:
    assert redact_text(text).endswith(expected)


@pytest.mark.parametrize("garbage", ["http://[::1", "", "?? @@ //", "::::", "%zz=1&password"])
def test_url_tolerates_garbage(garbage: str) -> None:
    assert isinstance(redact_url(garbage), str)


def test_text_masks_urls_headers_pairs_and_known_secrets() -> None:
    text = (
        "POST https://bob:pw1@host/svc?token=tok1 failed\n"
        "Authorization: Basic Ym9iOnB3\n"
        "headers={'Authorization': 'Bearer abc.def', 'Host': 'host'} "
        'body={"client_secret": "cs1", "ok": 1} db_password=pw2, pwd: pw3 and S3cr3t!'
    )
    out = redact_text(text, secrets=["S3cr3t!", ""])
    for leaked in ("pw1", "tok1", "Ym9iOnB3", "abc.def", "cs1", "pw2", "pw3", "S3cr3t!"):
        assert leaked not in out, leaked
    assert "'Host': 'host'" in out
    assert '"ok": 1' in out
    assert "https://***@host/svc?token=***" in out


def test_quoted_values_run_past_escaped_quotes() -> None:
    text = r"""{"password": "a\"hunter2", "ok": 1} and pwd='b\'hunter2' end"""
    out = redact_text(text)
    assert "hunter2" not in out
    assert '"ok": 1' in out
    assert out.endswith(" end")


def test_text_masks_encoded_forms_of_secrets() -> None:
    forms = ("p&ss<w> x", "p&amp;ss&lt;w&gt; x", "p%26ss%3Cw%3E%20x", "p%26ss%3Cw%3E+x")
    out = redact_text(" | ".join(forms), secrets=["p&ss<w> x"])
    assert out == " | ".join([MASK] * 4)


def test_text_without_secrets_is_unchanged() -> None:
    text = "tls.bad_record_mac (local) during receive, request_sent=full"
    assert redact_text(text) == text


def test_scope_secrets_and_names_apply_inside_its_call_only() -> None:
    scope = SecretScope(["iban"])
    scope.add("scope-S3cret-1")
    text = "value scope-S3cret-1 here <iban>DE00</iban>"
    with call_scope(scope):
        assert redact_text(text) == "value *** here <iban>***</iban>"
        assert "scope-S3cret-1" not in redact_xml("<a><b>scope-S3cret-1</b></a>")
        assert redact_message("x scope-S3cret-1") == "x ***"
    assert redact_text(text) == text  # nothing registered process-wide


def test_short_secrets_are_masked_by_name_only() -> None:
    scope = SecretScope()
    scope.add("1", "abc12")
    with call_scope(scope):
        assert redact_text("host='127.0.0.1' abc12") == "host='127.0.0.1' abc12"
        out = redact_xml("<wsse:Password>1</wsse:Password>")
    assert out == "<wsse:Password>***</wsse:Password>"


def test_secret_values_are_masked_in_their_encoded_forms() -> None:
    secret = "p&ss<w>'\"x ü"
    forms = [
        "p&amp;ss&lt;w&gt;'\"x ü",  # XML text
        "p&amp;ss&lt;w&gt;&#x27;&quot;x ü",  # HTML attribute
        repr(secret.encode())[2:-1],  # inside zeep's "Content: %r"
        repr("p&amp;ss&lt;w&gt;'\"x ü".encode())[2:-1],  # an escaped echo inside a repr
        "p&ss<w>'\\\"x \\u00fc",  # JSON
        "p%26ss%3Cw%3E%27%22x%20%C3%BC",
        "p%26ss%3Cw%3E%27%22x+%C3%BC",
    ]
    scope = SecretScope()
    scope.add(secret)
    with call_scope(scope):
        for form in forms:
            assert redact_text(f"[{form}]") == "[***]", form


def test_child_scope_includes_its_parent() -> None:
    parent = SecretScope(["pin"])
    parent.add_source(lambda: ["late-added-S3cret"])
    child = SecretScope(parent=parent)
    with call_scope(child):
        assert redact_text("<pin>1</pin> late-added-S3cret") == "<pin>***</pin> ***"


def test_text_is_cut_to_its_limit_with_a_marker() -> None:
    out = redact_text("word " * 2000, limit=100)
    assert out.startswith("word word")
    assert out.endswith("...[9900 more characters]")
    assert len(out) < 140


@pytest.mark.parametrize(
    "text",
    [
        "see https://bob:hunter2@host/x",  # user-info: no "@" left after the cut
        "Basic aHVudGVyMjpzZWNyZXQ=",
        "key: 'hunter2 with spaces'",
    ],
)
def test_the_cut_never_leaves_a_readable_fragment(text: str) -> None:
    for limit in range(len(text) - 12, len(text)):
        out = redact_text(text, secrets=["hunter2 with spaces"], limit=limit)
        for fragment in ("hunt", "aHVu", "spac"):
            assert fragment not in out, (limit, out)


def test_a_pass_stops_after_max_matches_and_withholds_the_rest() -> None:
    out = redact_text("password=x " * 3000, limit=10**6)
    assert "characters withheld by soapguard" in out
    assert "=x" not in out


def test_truncate() -> None:
    assert truncate("abc", 3) == "abc"
    out = truncate("a" * 5000)
    assert out.startswith("a" * 4096)
    assert "904 more characters" in out
    assert len(truncate("x" * 100, 10)) < 100


def test_message_with_envelope() -> None:
    msg = "HTTP Post to https://bob:pw@host/svc:\n" + ENVELOPE.split("\n", 1)[1]
    out = redact_message(msg)
    assert out.startswith("HTTP Post to https://***@host/svc")
    assert "hunter2" not in out
    assert "bm9uY2UtdmFs" not in out
    assert "<wsse:Username>bob</wsse:Username>" in out


@pytest.fixture
def filtered() -> Iterator[logging.Logger]:
    """A logger of its own with a RedactingFilter, taken off again afterwards."""
    log = logging.getLogger("soapguard.tests.redact_filter")
    redacting = RedactingFilter()
    log.addFilter(redacting)
    yield log
    log.removeFilter(redacting)


def test_filter_rewrites_records_inside_a_call_and_keeps_exc_info(
    caplog: pytest.LogCaptureFixture, filtered: logging.Logger
) -> None:
    log = filtered
    caplog.set_level(logging.DEBUG, logger=log.name)
    secret = "".join(("hunt", "er2"))  # not a literal: handlers print source lines in tracebacks
    with call_scope(SecretScope(["account"])):
        try:
            raise ValueError(f"login failed for password={secret}")
        except ValueError:
            log.exception("post %s:\n%s", "https://u:pw@h/x", "<r><account>ACC-1</account></r>")
    record = caplog.records[-1]
    assert record.args is None
    assert record.exc_info is not None  # kept, its message scrubbed in place
    assert str(record.exc_info[1]) == "login failed for password=***"
    assert "Traceback" in caplog.text
    for leaked in ("hunter2", "ACC-1", ":pw@"):
        assert leaked not in caplog.text, leaked
    assert "<account>***</account>" in record.getMessage()


def test_filter_leaves_records_outside_calls_untouched(
    caplog: pytest.LogCaptureFixture, filtered: logging.Logger
) -> None:
    log = filtered
    caplog.set_level(logging.DEBUG, logger=log.name)
    args = ("https://u:pw@h/x",)
    log.debug("post %s", *args)
    record = caplog.records[-1]
    assert (record.msg, record.args) == ("post %s", args)


def test_filter_never_breaks_logging(
    caplog: pytest.LogCaptureFixture, filtered: logging.Logger
) -> None:
    log = filtered
    caplog.set_level(logging.DEBUG, logger=log.name)
    with call_scope(None):
        log.debug("%s %s", "only one arg")  # getMessage() raises TypeError
    assert "withheld" in caplog.records[-1].getMessage()


def test_loggers_list_covers_every_zeep_and_urllib3_logger_that_logs() -> None:
    """Every zeep (4.3.x) and urllib3 module that logs has its logger in LOGGERS."""
    import urllib3

    modules: set[str] = set()
    for package, call in ((zeep, r"logger\.\w+\("), (urllib3, r"\blog\.\w+\(")):
        root = Path(package.__file__).parent
        modules |= {
            f"{package.__name__}." + str(p.relative_to(root).with_suffix("")).replace("/", ".")
            for p in root.rglob("*.py")
            if re.search(call, p.read_text())
        }
    modules = {m.removesuffix(".__main__").removesuffix(".__init__") for m in modules}
    assert modules <= set(logredact.LOGGERS)


RESPONSE = """<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><GetBalanceResponse xmlns="urn:soapguard:ledger">
<account>ACC-998877</account><balance>10.50</balance><currency>EUR</currency>
</GetBalanceResponse></soap:Body></soap:Envelope>"""


def _zeep_call(digest: bool) -> tuple[object, requests_mock.Adapter]:
    session = requests.Session()
    adapter = requests_mock.Adapter()
    session.mount("https://", adapter)
    url = "https://bob:url-pw-77@127.0.0.1:9/ledger?token=url-tok-55"
    adapter.register_uri("POST", url, text=RESPONSE, headers={"Content-Type": "text/xml"})
    client = zeep.Client(
        str(WSDL),
        wsse=UsernameToken("bob", "zeep-pw-31337", use_digest=digest),
        transport=zeep.Transport(session=session),
    )
    service = client.create_service("{urn:soapguard:ledger}LedgerSoapBinding", url)
    return service.GetBalance(account="ACC-998877"), adapter


@pytest.mark.parametrize("digest", [False, True])
def test_real_zeep_debug_logging_is_redacted_inside_a_call(
    caplog: pytest.LogCaptureFixture, digest: bool
) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG, logger="zeep")
    scope = SecretScope(["account"])
    scope.add("zeep-pw-31337")
    with call_scope(scope):  # as soapguard.Client runs its calls
        result, adapter = _zeep_call(digest)
    assert result.account == "ACC-998877"  # the call itself is untouched
    sent = etree.fromstring(adapter.last_request.body)
    nonce = sent.findtext(f".//{{{WSSE}}}Nonce")
    posts = [r for r in caplog.records if r.name == "zeep.transports"]
    assert any("HTTP Post to" in r.getMessage() for r in posts)
    assert any("HTTP Response from" in r.getMessage() for r in posts)
    for leaked in ("zeep-pw-31337", "url-pw-77", "url-tok-55", "ACC-998877", nonce or "x" * 99):
        assert leaked not in caplog.text, leaked
    assert "<wsse:Username>bob</wsse:Username>" in caplog.text


def test_real_zeep_debug_logging_leaks_without_the_filter(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control for the test above: zeep itself logs the password."""
    monkeypatch.setattr(logging.getLogger("zeep.transports"), "filters", [])
    caplog.set_level(logging.DEBUG, logger="zeep.transports")
    _zeep_call(False)
    assert "zeep-pw-31337" in caplog.text
