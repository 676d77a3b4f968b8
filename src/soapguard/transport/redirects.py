"""The redirect rule: a SOAP call is never re-sent where it could leak or run unexpectedly.

zeep (through requests) follows every redirect: a 307 to ``http://`` re-POSTs the whole
envelope, WS-Security password and cookies included, in clear text, and a 307 to
another host re-POSTs it there.  soapguard follows a redirect of a call only when it is
a 307 or 308 (which keep the method and body) to the *same* scheme, host and port;
every other redirect ends the call with an ``http.status`` failure that names where it
pointed.  Loading a WSDL or an XSD follows redirects as requests does, except that it
never leaves TLS (an ``https`` document is never fetched over ``http``).

Both rules are response hooks, so they apply to every hop requests makes, on the lean
and on the full requests path alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import requests

from .._urls import origin
from ..diagnostics.redact import redact_url

#: redirects that keep the method and the body
_KEEPING = frozenset({307, 308})


class RedirectRefused(requests.exceptions.HTTPError):
    """A redirect soapguard does not follow (classified ``http.status``, never retried)."""


def target(response: requests.Response) -> str | None:
    """Where a redirect response points, as an absolute URL (None if it is no redirect)."""
    if not response.is_redirect:
        return None
    location = response.headers.get("location") or ""
    base = response.url or (response.request.url if response.request is not None else "") or ""
    return urljoin(base, location)


def check_call_redirect(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook for SOAP calls: allow only 307/308 to the same origin."""
    where = target(response)
    if where is None:
        return
    here = response.url or (response.request.url if response.request is not None else "") or ""
    if response.status_code in _KEEPING and origin(where) == origin(here):
        return
    response.close()  # the body of a refused redirect is never read
    raise RedirectRefused(
        f"HTTP {response.status_code} redirect to {redact_url(where)} not followed: soapguard "
        "follows only 307/308 to the same scheme, host and port",
        response=response,
    )


def hooks_with(rule: Any, session: requests.Session) -> dict[str, list[Any]]:
    """The ``hooks=`` of a request: ``rule`` first, then the session's own response hooks.

    requests lets a request's hooks *replace* the session's for the same event, so
    passing the rule alone would silently drop hooks a user set on their session.
    """
    own = session.hooks.get("response") or []
    return {"response": [rule, *(own if isinstance(own, list | tuple) else [own])]}


def check_document_redirect(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook for WSDL/XSD loads: any redirect, but never from https to http."""
    where = target(response)
    if where is None:
        return
    here = response.url or ""
    if origin(here)[0] == "https" and origin(where)[0] != "https":
        response.close()
        raise RedirectRefused(
            f"redirect from https to http refused: {redact_url(here)} pointed at "
            f"{redact_url(where)}",
            response=response,
        )
