"""The masking passes behind :mod:`.redact`, each linear in the length of its input.

Redaction runs on text a server controls (error bodies end up in exception
messages), so a pattern that backtracks badly on some input is a way to hold
the GIL for minutes.  The rules every pattern here follows:

* a candidate start is rejected at once unless it begins a construct (a
  lookbehind refuses the middle of a run of scheme or name characters);
* names are read *atomically* with the ``(?=(?P<n>[...]{1,64}))(?P=n)``
  idiom: a lookahead cannot be backtracked into, so a long run of name
  characters is read once, not once per possible split;
* every other repetition is bounded, or stops at a character that ends the
  construct, or ends the pattern so that it cannot fail after a long scan
  (an unclosed quote takes the rest of the text: masking too much is safe);
* each pass handles at most :data:`MAX_MATCHES` matches; past that, the rest
  of the text is withheld rather than scanned.

Which names are secret is decided in Python on each match, so the patterns
stay generic and the lists of names stay in one place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote

MASK = "***"
#: matches one pass handles before it withholds the rest of the text
MAX_MATCHES = 2000


def _compiled(pattern: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """``pattern``, compiled on first use: secret scopes need this module's names at
    start-up, its patterns only once something is redacted."""
    return functools.cache(lambda: re.compile(pattern, flags))


#: header names whose values are credentials (lower case)
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
#: query, fragment and path parameter names whose values are credentials (lower case)
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "pass", "secret", "token", "access_token", "id_token"}
    | {"api_key", "apikey", "key", "signature", "sig", "auth", "session", "sessionid"}
    | {"jsessionid", "client_secret", "code"}
)
#: a header or parameter name containing one of these is a credential too
SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key")
#: element and attribute local names always masked; so is any local name containing "password"
ALWAYS_SENSITIVE = frozenset({"password", "nonce"})


def is_secret_header(name: str) -> bool:
    low = name.strip().lower()
    return low in SECRET_HEADERS or any(word in low for word in SECRET_WORDS)


def is_secret_param(name: str) -> bool:
    low = unquote(name.replace("+", " ")).strip().lower()
    return low in SECRET_PARAMS or any(word in low for word in SECRET_WORDS)


def is_sensitive(local: str, names: frozenset[str]) -> bool:
    low = local.lower()
    return low in names or "password" in low


def withheld(count: int) -> str:
    return f"[{count} characters withheld by soapguard]"


def sub_capped(pattern: re.Pattern[str], text: str, repl: Callable[[re.Match[str]], str]) -> str:
    """``pattern.sub(repl, text)`` that stops after :data:`MAX_MATCHES` matches."""
    out: list[str] = []
    pos = 0
    for count, match in enumerate(pattern.finditer(text)):
        if count == MAX_MATCHES:
            out.append(text[pos : match.start()])
            out.append(withheld(len(text) - match.start()))
            return "".join(out)
        out.append(text[pos : match.start()])
        out.append(repl(match))
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


# -- known values and the cut --------------------------------------------------------------------


def mask_values(text: str, variants: Iterable[str]) -> str:
    """Every occurrence of each variant (longest first) replaced by :data:`MASK`."""
    for value in variants:
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_cut(head: str, variants: Iterable[str]) -> str:
    """``head``, the start of a longer text, with whatever the cut may have split masked.

    The last run of non-blank characters goes (a URL, token or base64 blob cut
    in half no longer looks like one), and so does any ending that starts a
    known secret, whitespace included.
    """
    cut = max(head.rfind(c) for c in " \t\r\n") + 1
    for value in variants:
        i = head.find(value[0], max(0, len(head) - len(value) + 1))
        while -1 < i < cut:
            if value.startswith(head[i:]):
                cut = i
                break
            i = head.find(value[0], i + 1)
    return head if cut >= len(head) else head[:cut] + MASK


# -- markup --------------------------------------------------------------------------------------

# a start or end tag, raw or XML-escaped ("&lt;Password&gt;", as inside an escaped faultstring);
# its attributes run to the next "<", ">", "&lt;" or "&gt;", so tag scans never overlap
_TAG = _compiled(
    r"(?:<|&lt;)(?P<close>/?)(?=(?P<qname>[\w.:-]{1,128}))(?P=qname)"
    r"(?P<rest>(?:[^<>&]|&(?!gt;|lt;))*)(?P<gt>>|&gt;)?"
)
_ATTRIBUTE = _compiled(
    r"(?<=\s)(?=(?P<qname>[\w.:-]{1,128}))(?P=qname)(?P<sep>\s{0,16}=\s{0,16})"
    r"(?P<value>\"[^\"<>]*\"?|'[^'<>]*'?|&quot;(?:[^&<>]|&(?!quot;|gt;|lt;))*(?:&quot;)?)"
)


def mask_elements(text: str, names: frozenset[str]) -> str:
    """The content of every sensitive element replaced by :data:`MASK`, nested markup included.

    An element with no end tag (a truncated envelope) is masked to the end of
    the text.  Raw and XML-escaped tags are both recognised.
    """
    out: list[str] = []
    pos = 0
    open_name: str | None = None
    depth = start = 0
    for count, match in enumerate(_TAG().finditer(text)):
        if count == MAX_MATCHES:
            end = start if open_name is not None else match.start()
            out.append(text[pos:end])
            out.append(withheld(len(text) - end))
            return "".join(out)
        local = match["qname"].rpartition(":")[2].lower()
        closing = bool(match["close"])
        empty = match["rest"].rstrip().endswith("/")
        if open_name is None:
            if not closing and not empty and is_sensitive(local, names):
                open_name, depth, start = local, 1, match.end()
        elif local == open_name and not empty:
            depth += -1 if closing else 1
            if depth == 0:
                content = text[start : match.start()]
                out.append(text[pos:start])
                out.append(MASK if content.strip() else content)
                pos, open_name = match.start(), None
    if open_name is not None:
        content = text[start:]
        out.append(text[pos:start])
        out.append(MASK if content.strip() else content)
        pos = len(text)
    out.append(text[pos:])
    return "".join(out)


def mask_attributes(text: str, names: frozenset[str]) -> str:
    """Values of sensitive attributes (``name="..."``, raw or escaped quotes) masked."""

    def repl(match: re.Match[str]) -> str:
        if not is_sensitive(match["qname"].rpartition(":")[2], names):
            return match[0]
        value = match["value"]
        quote = "&quot;" if value.startswith("&quot;") else value[0]
        return f"{match['qname']}{match['sep']}{quote}{MASK}{quote}"

    return sub_capped(_ATTRIBUTE(), text, repl)


# -- URLs and name/value pairs -------------------------------------------------------------------

_URL_REST = _compiled(r"[^\s<>\"'`]+")
_SCHEME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# a pair's value follows its name (and the name's closing quote, in a dict repr or JSON)
_VALUE = r"""(?P<q>['"]?)(?P<sep>[ \t]{0,16}[=:][ \t]{0,16})"""
# a quoted value runs to its closing quote (backslash escapes skipped), or to the end
_QUOTED = r"\"(?:[^\"\\]|\\[\s\S])*\"?|'(?:[^'\\]|\\[\s\S])*'?"
# "password=x", "'api_key': 'x'", "db_token: x", "pwd=x", "session=x": found from the
# keyword, so a name glued to a long run of other characters is still found
_PAIR = _compiled(
    r"(?:(?:password|passwd|secret|token|api[_-]?key|credential)[\w-]{0,64}?"
    r"|(?<![\w-])(?:pwd|pass|auth|sessionid|session))"
    + _VALUE
    + rf"(?P<value>{_QUOTED}|[^\s&,;<>\"')\]}}]+)",
    re.IGNORECASE,
)
# header-like names take the rest of the line ("Authorization: Basic dXNlcjpw"), or up to
# the next tag inside markup; a line also ends at a "\r" or "\n" escape (zeep's messages
# hold a repr of the body)
_HEADER_PAIR = {
    markup: _compiled(
        r"(?:authorization|cookie)[\w-]{0,64}?" + _VALUE + rf"(?P<value>{_QUOTED}|{rest})",
        re.IGNORECASE,
    )
    for markup, rest in (
        (False, r"(?:[^\r\n\\]|\\(?![rn]))*"),
        (True, r"(?:[^\r\n<\\]|\\(?![rn]))*"),
    )
}


def _mask_pair(match: re.Match[str]) -> str:
    value = match["value"]
    if not value.strip():
        return match[0]
    masked = value[0] + MASK + value[0] if value[:1] in ("'", '"') else MASK
    return match[0][: match.start("value") - match.start()] + masked


def _scheme_start(text: str, colon: int, floor: int) -> int:
    """Where the scheme before ``text[colon:colon + 3] == "://"`` starts (``colon``: none)."""
    start = colon
    while start > max(floor, colon - 32) and text[start - 1] in _SCHEME:
        start -= 1
    while start < colon and text[start] not in _LETTERS:
        start += 1
    return start


def mask_urls(text: str, redact_url: Callable[[str], str]) -> str:
    """Every ``scheme://...`` passed through ``redact_url``.

    Found from each ``://`` (a C-speed search), the scheme read backwards over
    at most 32 characters, so a URL glued to a run of dots or letters is still
    found; a URL glued to the end of another starts a new one.  Linear in the
    text: each ``://`` is looked at a bounded number of times.
    """
    out: list[str] = []
    pos = count = 0
    found = text.find("://")
    while found != -1:
        start = _scheme_start(text, found, pos)
        if start == found:  # no scheme: not a URL, but one may start inside what follows
            found = text.find("://", found + 3)
            continue
        if count == MAX_MATCHES:
            out.append(text[pos:start])
            out.append(withheld(len(text) - start))
            return "".join(out)
        rest = _URL_REST().match(text, found + 3)
        end = rest.end() if rest else found + 3
        inner = text.find("://", found + 3, end)
        while inner != -1:
            nested = _scheme_start(text, inner, found + 3)
            if nested < inner:
                end = nested
                break
            inner = text.find("://", inner + 3, end)
        out.append(text[pos:start])
        out.append(redact_url(text[start:end]))
        pos, count = end, count + 1
        found = text.find("://", end)
    out.append(text[pos:])
    return "".join(out)


def mask_pairs(text: str, *, markup: bool) -> str:
    """Credential-bearing ``name=value`` / ``name: value`` pairs and header lines masked."""
    text = sub_capped(_HEADER_PAIR[markup](), text, _mask_pair)
    return sub_capped(_PAIR(), text, _mask_pair)
