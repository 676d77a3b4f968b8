"""Masking of secrets in envelopes, headers, URLs and free text.

Everything soapguard logs, emits or puts into an exception message goes
through this module.  The rules are deliberately greedy: masking a value that
was not secret costs a little readability, leaking one is not recoverable.

* :func:`redact_xml` masks WS-Security ``Password``/``Nonce`` (any namespace),
  any element or attribute whose local name contains ``password``, and the
  names the caller marks sensitive (``SOAPGUARD_SENSITIVE_ELEMENTS``).  A
  small, well-formed envelope keeps its structure; anything else is masked
  with patterns (an element with no end tag is masked to the end).
* :func:`redact_url` and :func:`redact_text` cover header lines,
  URLs (user-info, credential-like parameters) and free text, raw
  or XML-escaped markup inside it included.
* Known secret *values* are masked in every encoding they may take
  (XML-escaped, percent-encoded, inside a ``repr``...): those passed as
  ``secrets`` and, inside a soapguard call, those of the call's
  :class:`~soapguard.diagnostics.secrets.SecretScope`, whose sensitive names also apply.

The work is bounded whatever the input: only the first ``limit`` characters
are ever looked at (a message, a log line or an event field needs no more),
every pattern is linear in its input and each pass stops after a fixed
number of matches.  The cut never splits a secret into a readable fragment:
the last run of non-blank characters before it, and any ending that starts
a known secret, are masked.  Text beyond the limit is replaced by a marker
saying how much was dropped.

:mod:`soapguard.diagnostics.logs` applies these rules to log records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

from . import _patterns as rules
from ._patterns import MASK, is_secret_param, is_sensitive
from .secrets import MIN_SECRET_LENGTH, active_scope, encodings

__all__ = [
    "LOG_LIMIT",
    "MASK",
    "PAYLOAD_LIMIT",
    "TEXT_LIMIT",
    "redact_message",
    "redact_text",
    "redact_url",
    "redact_xml",
    "truncate",
]

#: characters of free text (an exception message) looked at and kept
TEXT_LIMIT = 4096
#: characters of an envelope logged with ``SOAPGUARD_LOG_PAYLOADS``
PAYLOAD_LIMIT = 4096
#: characters of a log record's message (zeep logs whole envelopes) looked at and kept
LOG_LIMIT = 16384

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_AUTHORITY = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:)?//([^/?#]*)")
_PATH_PARAM = re.compile(r";([^;/=?#]*)=([^;/?#]*)")
_MARKUP_START = re.compile(r"<[?!a-zA-Z_]")


def truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was dropped.

    A plain cut: use it only on text that is already redacted.
    """
    if len(text) <= limit:
        return text
    return f"{text[: max(limit, 0)]}...[{len(text) - max(limit, 0)} more characters]"


# -- what applies: explicit secrets and names, plus the active call's scope ----------------------


def _variants(secrets: Iterable[str]) -> tuple[str, ...]:
    scope = active_scope()
    known = scope.variants() if scope is not None else ()
    forms: set[str] = set()
    for value in secrets:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            forms |= encodings(value)
    if not forms:
        return known
    return tuple(sorted(forms.union(known), key=len, reverse=True))


def _names(sensitive: Iterable[str]) -> frozenset[str]:
    names = rules.ALWAYS_SENSITIVE | {n.strip().lower() for n in sensitive if n and n.strip()}
    scope = active_scope()
    return names | scope.sensitive if scope is not None else names


def _head(
    text: str, limit: int, variants: tuple[str, ...], size: int | None = None
) -> tuple[str, int]:
    """The first ``limit`` characters of ``text`` (``size`` long), cut safely, and how many
    were dropped."""
    size = len(text) if size is None else size
    if size <= limit:
        return text, 0
    # whole values first: masking the cut's last token must not break one that reaches into it
    head = rules.mask_values(text[:limit], variants)
    return rules.mask_cut(head, variants), size - limit


def _dropped(count: int) -> str:
    return f"...[{count} more characters]" if count else ""


def _scan(text: str, variants: tuple[str, ...], names: frozenset[str], *, markup: bool) -> str:
    text = rules.mask_values(text, variants)
    text = rules.mask_elements(text, names)
    text = rules.mask_attributes(text, names)
    text = rules.mask_urls(text, redact_url)
    return rules.mask_pairs(text, markup=markup)


# -- headers, URLs, free text --------------------------------------------------------------------


def _mask_params(query: str) -> str:
    parts = re.split(r"([&;])", query)
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if eq and value and is_secret_param(name):
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
        lambda m: f";{m.group(1)}={MASK}" if m.group(2) and is_secret_param(m.group(1)) else m[0],
        path,
    )
    if "=" in fragment:
        fragment = _mask_params(fragment)
    return f"{head}{path}{qmark}{_mask_params(query)}{hash_}{fragment}"


def redact_text(
    text: str,
    secrets: Iterable[str] = (),
    *,
    sensitive: Iterable[str] = (),
    limit: int = TEXT_LIMIT,
) -> str:
    """Free text (exception/log messages) with URLs, credential pairs and known secrets masked.

    Markup inside it (an echoed envelope, raw or XML-escaped) has its
    sensitive elements masked too.  At most ``limit`` characters are kept.
    """
    variants = _variants(secrets)
    head, dropped = _head(text, max(limit, 0), variants)
    return _scan(head, variants, _names(sensitive), markup=False) + _dropped(dropped)


# -- XML -----------------------------------------------------------------------------------------


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


def _markup_in_text(text: str, names: frozenset[str]) -> str:
    return rules.mask_attributes(rules.mask_elements(text, names), names)


def _tree_xml(payload: bytes | str, names: frozenset[str]) -> str | None:
    """The document with sensitive parts masked, structure kept; ``None`` if it does not parse."""
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
        # text that holds markup (an echoed request in a faultstring, a comment) is masked as text
        if el.text and ("<" in el.text or "&lt;" in el.text):
            el.text = _markup_in_text(el.text, names)
        if el.tail and ("<" in el.tail or "&lt;" in el.tail):
            el.tail = _markup_in_text(el.tail, names)
        if not isinstance(el.tag, str):  # comments, processing instructions
            continue
        for attr in list(el.attrib):
            if is_sensitive(str(attr).rpartition("}")[2], names):
                el.attrib[attr] = MASK
        if is_sensitive(etree.QName(el).localname, names):
            _mask_subtree(el)
    body = etree.tostring(root.getroottree(), encoding="unicode")
    return f"{decl}\n{body}" if decl else body


def _tree_masked(tree: str, variants: tuple[str, ...]) -> str:
    """A document :func:`_tree_xml` already masked by name: the value and text passes."""
    return rules.mask_pairs(
        rules.mask_urls(rules.mask_values(tree, variants), redact_url), markup=True
    )


def redact_xml(
    payload: bytes | str,
    sensitive: Iterable[str] = (),
    secrets: Iterable[str] = (),
    *,
    limit: int = PAYLOAD_LIMIT,
) -> str:
    """The envelope as text with secret element texts and attribute values masked.

    At most ``limit`` characters (bytes, for bytes input) are looked at.
    """
    variants, names, limit = _variants(secrets), _names(sensitive), max(limit, 0)
    if len(payload) <= limit:
        tree = _tree_xml(payload, names)
        if tree is not None:
            return _tree_masked(tree, variants)
    part = payload[:limit]
    text = part.decode("utf-8", "replace") if isinstance(part, bytes) else part
    head, dropped = _head(text, limit, variants, size=len(payload))
    return _scan(head, variants, names, markup=True) + _dropped(dropped)


def redact_message(
    text: str,
    sensitive: Iterable[str] = (),
    secrets: Iterable[str] = (),
    *,
    limit: int = LOG_LIMIT,
) -> str:
    """A log message that may end in an envelope (``"HTTP Post to URL:\\n<soap:Envelope..."``).

    The envelope keeps its structure when it is whole, well-formed and within ``limit``.
    """
    variants, names = _variants(secrets), _names(sensitive)
    head, dropped = _head(text, max(limit, 0), variants)
    head = rules.mask_values(head, variants)  # before splitting: a value may straddle the split
    start = _MARKUP_START.search(head)
    if start is None:
        return _scan(head, variants, names, markup=False) + _dropped(dropped)
    intro, tail = head[: start.start()], head[start.start() :]
    tree = None if dropped else _tree_xml(tail, names)
    body = (
        _tree_masked(tree, variants)
        if tree is not None
        else _scan(tail, variants, names, markup=True)
    )
    return _scan(intro, variants, names, markup=False) + body + _dropped(dropped)
