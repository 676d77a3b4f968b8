"""Masking of secrets in envelopes, headers, URLs and free text.

Everything soapguard logs, emits or puts into an exception message goes
through this module.  The rules are deliberately greedy: masking a value that
was not secret costs a little readability, leaking one is not recoverable.

* :func:`redact_xml` masks WS-Security ``Password``/``Nonce`` (any namespace),
  any element or attribute whose local name contains ``password``, and the
  names the caller marks sensitive (``SOAPGUARD_SENSITIVE_ELEMENTS``), keeping
  the envelope's structure.  Input that does not parse falls back to regexes.
* :func:`redact_headers`, :func:`redact_url` and :func:`redact_text` cover
  headers, URLs (user-info, credential-like parameters) and free text.
* Known secret *values* (e.g. the WS-Security password a client holds) are
  registered once with :func:`register_secrets` and masked everywhere after,
  also in their XML-escaped and percent-encoded forms.  They are stored in
  memory only and never logged.

:mod:`soapguard.diagnostics.logs` applies these rules to log records (zeep's own DEBUG
logging of whole envelopes included).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus

from lxml import etree

__all__ = [
    "MASK",
    "redact_headers",
    "redact_message",
    "redact_text",
    "redact_url",
    "redact_xml",
    "register_secrets",
    "truncate",
]

MASK = "***"

#: element/attribute local names masked whatever the caller asks (lower case);
#: any local name *containing* "password" is masked as well
_ALWAYS = frozenset({"password", "nonce"})
_SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key")
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
_SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "pass", "secret", "token", "access_token", "id_token"}
    | {"api_key", "apikey", "key", "signature", "sig", "auth", "session", "sessionid"}
    | {"jsessionid", "client_secret", "code"}
)

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\"'`]+")
_AUTHORITY = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:)?//([^/?#]*)")
_PATH_PARAM = re.compile(r";([^;/=?#]*)=([^;/?#]*)")
# name=value / name: value pairs in free text (also 'quoted': "keys" of dict reprs and JSON)
_PAIR_NAME = r"[\w-]*(?:password|passwd|secret|token|api[_-]?key|credential)[\w-]*|pwd|pass|auth"
_PAIR_NAME += r"|session|sessionid"
_PAIR_LEAD = r"(?<![\w</:-])(['\"]?)"
_PAIR_SEP = r"\1([ \t]*[=:][ \t]*)"
_QUOTED = r"\"[^\"]*\"|'[^']*'"
_PAIR = re.compile(
    rf"{_PAIR_LEAD}({_PAIR_NAME}){_PAIR_SEP}({_QUOTED}|[^\s&,;<>\"')\]}}]+)", re.IGNORECASE
)
# header-like names take the rest of the line ("Authorization: Basic dXNlcjpw"), or up to the
# next tag inside markup
_HEADER_NAME = r"[\w-]*(?:authorization|cookie)[\w-]*"
_HEADER_PAIR = {
    markup: re.compile(rf"{_PAIR_LEAD}({_HEADER_NAME}){_PAIR_SEP}({_QUOTED}|{rest})", re.I)
    for markup, rest in ((False, r"[^\r\n]*"), (True, r"[^\r\n<]*"))
}


# -- secret registry -----------------------------------------------------------------------------

_registry_lock = threading.Lock()
_registered: set[str] = set()
_registered_view: tuple[str, ...] = ()


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so every later redaction masks them.  Thread-safe."""
    global _registered_view
    new = {v for v in values if isinstance(v, str) and v}
    if not new:
        return
    with _registry_lock:
        if new <= _registered:
            return
        _registered.update(new)
        _registered_view = tuple(_registered)


def _mask_secrets(text: str, secrets: Iterable[str]) -> str:
    variants: set[str] = set()
    for s in (*secrets, *_registered_view):
        if s:
            xml_escaped = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            variants.update((s, xml_escaped, quote(s, safe=""), quote_plus(s)))
            variants.add(xml_escaped.replace('"', "&quot;").replace("'", "&apos;"))
    for value in sorted(variants, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(value, MASK)
    return text


# -- headers, URLs, free text --------------------------------------------------------------------


def _secret_name(name: str) -> bool:
    low = name.strip().lower()
    return low in _SECRET_HEADERS or any(word in low for word in _SECRET_WORDS)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential-bearing values replaced by :data:`MASK`."""
    return {name: (MASK if _secret_name(name) else value) for name, value in headers.items()}


def _secret_param(name: str) -> bool:
    low = unquote_plus(name).strip().lower()
    return low in _SECRET_PARAMS or any(word in low for word in _SECRET_WORDS)


def _mask_params(query: str) -> str:
    parts = re.split(r"([&;])", query)
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if eq and value and _secret_param(name):
            parts[i] = f"{name}={MASK}"
    return "".join(parts)


def redact_url(url: str) -> str:
    """``url`` with user-info and credential-like parameters masked; never raises."""
    out = url
    authority = _AUTHORITY.match(out)
    if authority and "@" in authority.group(2):
        host = authority.group(2).rpartition("@")[2]
        out = f"{authority.group(1) or ''}//{MASK}@{host}{out[authority.end() :]}"
        authority = _AUTHORITY.match(out)
    head = authority.group(0) if authority else ""
    rest, hash_, fragment = out[len(head) :].partition("#")
    path, qmark, query = rest.partition("?")
    path = _PATH_PARAM.sub(
        lambda m: f";{m.group(1)}={MASK}" if m.group(2) and _secret_param(m.group(1)) else m[0],
        path,
    )
    if "=" in fragment:
        fragment = _mask_params(fragment)
    return f"{head}{path}{qmark}{_mask_params(query)}{hash_}{fragment}"


def _mask_pair(match: re.Match[str]) -> str:
    quote_char, name, sep, value = match.groups()
    if not value.strip():
        return match.group(0)
    masked = value[0] + MASK + value[0] if value[:1] in ("'", '"') else MASK
    return f"{quote_char}{name}{quote_char}{sep}{masked}"


def _scan(text: str, secrets: Iterable[str], *, markup: bool) -> str:
    text = _mask_secrets(text, secrets)
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _HEADER_PAIR[markup].sub(_mask_pair, text)
    return _PAIR.sub(_mask_pair, text)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (exception/log messages) with URLs, credential pairs and known secrets masked."""
    return _scan(text, secrets, markup=False)


def truncate(text: str, limit: int = 4096) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was dropped."""
    if len(text) <= limit:
        return text
    return f"{text[: max(limit, 0)]}...[{len(text) - max(limit, 0)} more characters]"


# -- XML -----------------------------------------------------------------------------------------


def _names(sensitive: Iterable[str]) -> frozenset[str]:
    return _ALWAYS | {n.strip().lower() for n in sensitive if n and n.strip()}


def _is_sensitive(local: str, names: frozenset[str]) -> bool:
    low = local.lower()
    return low in names or "password" in low


def _mask_subtree(el: etree._Element) -> None:
    if el.text and el.text.strip():
        el.text = MASK
    for child in el.iterdescendants():
        if child.text and child.text.strip():
            child.text = MASK
        if child.tail and child.tail.strip():
            child.tail = MASK
        for attr in list(child.attrib):
            child.attrib[attr] = MASK


@functools.lru_cache(maxsize=32)
def _fallback_patterns(names: frozenset[str]) -> tuple[re.Pattern[str], ...]:
    alts = "|".join([*sorted(map(re.escape, names)), r"[\w.-]*password[\w.-]*"])
    opening = rf"(<(?:[\w.-]+:)?({alts})(?=[\s/>])[^>]*(?<!/)>)"
    flags = re.IGNORECASE | re.DOTALL
    return (
        # <x:Password ...>anything, nested markup included</x:Password>
        re.compile(rf"{opening}(.*?)(</(?:[\w.-]+:)?\2\s*>)", flags),
        # unclosed (truncated) elements: text up to the next tag or the end
        re.compile(rf"{opening}()((?:<!\[CDATA\[.*?(?:\]\]>|$)|[^<])*)", flags),
        re.compile(rf"(\s(?:[\w.-]+:)?(?:{alts})\s*=\s*)(\"[^\"]*\"|'[^']*')", flags),
    )


def _regex_xml(text: str, names: frozenset[str]) -> str:
    closed, unclosed, attribute = _fallback_patterns(names)
    text = closed.sub(lambda m: m[1] + (MASK if m[3].strip() else m[3]) + m[4], text)
    text = unclosed.sub(lambda m: m[1] + (MASK if m[4].strip() else m[4]), text)
    return attribute.sub(lambda m: f"{m[1]}{m[2][0]}{MASK}{m[2][0]}", text)


def _tree_xml(payload: bytes | str, names: frozenset[str]) -> str | None:
    decl = ""
    if isinstance(payload, str):
        found = _XML_DECL.match(payload)
        if found:  # lxml refuses str input that declares an encoding
            decl, payload = found.group(0).strip(), payload[found.end() :]
    elif payload.lstrip().startswith(b"<?xml"):
        decl = payload.lstrip().split(b"?>", 1)[0].decode("ascii", "replace") + "?>"
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        root = etree.fromstring(payload, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    for el in root.iter():
        if not isinstance(el.tag, str):  # comments, processing instructions
            continue
        for attr in list(el.attrib):
            if _is_sensitive(str(attr).rpartition("}")[2], names):
                el.attrib[attr] = MASK
        if _is_sensitive(etree.QName(el).localname, names):
            _mask_subtree(el)
    body = etree.tostring(root.getroottree(), encoding="unicode")
    return f"{decl}\n{body}" if decl else body


def redact_xml(payload: bytes | str, sensitive: Iterable[str] = ()) -> str:
    """The envelope as text with secret element texts and attribute values masked."""
    names = _names(sensitive)
    text = _tree_xml(payload, names)
    if text is None:
        raw = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        text = _regex_xml(raw, names)
    return _scan(text, (), markup=True)


def redact_message(text: str, sensitive: Iterable[str] = (), secrets: Iterable[str] = ()) -> str:
    """A log message that may end in an envelope (``"HTTP Post to URL:\\n<soap:Envelope..."``)."""
    start = re.search(r"<[?!a-zA-Z_]", text)
    if start is None:
        return redact_text(text, secrets)
    head, tail = text[: start.start()], text[start.start() :]
    return redact_text(head, secrets) + _mask_secrets(redact_xml(tail, sensitive), secrets)
