"""Section 1's reference points: what a kept-alive SOAP call cannot cost less than.

The *floor* is zeep's own work (building the envelope, serialising it, parsing the
reply; no HTTP) plus a raw ``http.client`` POST of the same bytes over a kept-alive TLS
connection: a client that adds nothing to zeep and nothing to the standard library's
HTTP. Every variant here runs in the same interleaved blocks as zeep and soapguard, so
each soapguard figure can be read as a ratio to zeep *and* to the floor.

Also measured, as information (same bytes, same server, same blocks):

* ``zeep work``: zeep's envelope build and reply parse alone, no HTTP;
* ``http.client``: the raw POST alone;
* ``urllib3``: ``HTTPSConnectionPool.urlopen`` of the same bytes;
* ``requests``: ``requests.Session.post`` of the same bytes (a default session, as zeep's).
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from typing import Any

import requests
import urllib3
import zeep
from _clients import BINDING
from _measure import Row, Spread, judged, ratios, us
from _plan import Plan
from zeep.wsdl.utils import etree_to_string

OPERATION = "GetBalance"
#: the floor variants, in the order of their rows
REFERENCES = ("floor", "zeep work", "http.client", "urllib3", "requests")


class _Reply:
    """What zeep's ``process_reply`` reads from a response, and nothing more."""

    __slots__ = ("content", "encoding", "headers", "status_code")

    def __init__(self, status: int, headers: Any, content: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content
        self.encoding = None


class Floor:
    """The reference variants against the canned server at ``url`` (``ca``: its CA file)."""

    def __init__(self, client: zeep.Client, url: str, port: int, ca: str) -> None:
        self._client = client
        wsdl: Any = client.wsdl
        self._binding: Any = wsdl.bindings[BINDING]
        self._operation: Any = self._binding.get(OPERATION)
        self._options = {"address": url}
        envelope, headers = self._build()
        self.message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        self.headers: dict[str, str] = {**headers, "Content-Length": str(len(self.message))}
        self.path = urllib3.util.parse_url(url).request_uri
        context = ssl.create_default_context(cafile=ca)
        self._conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
        self._pool = urllib3.HTTPSConnectionPool(
            "127.0.0.1", port, ssl_context=context, maxsize=1, timeout=60
        )
        self._session = requests.Session()
        self._session.verify = ca
        self._url = url
        self.canned = self._post()  # also checks that the raw POST works

    def _build(self) -> tuple[Any, dict[str, str]]:
        envelope, headers = self._binding._create(
            OPERATION, (), {"account": "42"}, client=self._client, options=self._options
        )
        return envelope, dict(headers)

    def _post(self, message: bytes | None = None) -> _Reply:
        self._conn.request("POST", self.path, body=message or self.message, headers=self.headers)
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"raw POST answered {response.status}")
        return _Reply(response.status, response.headers, body)

    def _parse(self, reply: _Reply) -> Any:
        return self._binding.process_reply(self._client, self._operation, reply)

    # -- the variants -------------------------------------------------------------------

    def floor(self) -> object:
        """zeep's work plus a raw http.client POST: envelope -> bytes -> POST -> parse."""
        envelope, _ = self._build()
        message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        return self._parse(self._post(message))

    def zeep_work(self) -> object:
        """zeep's work alone (the reply is the canned one, already read)."""
        envelope, _ = self._build()
        etree_to_string(envelope)  # type: ignore[no-untyped-call]
        return self._parse(self.canned)

    def http_client(self) -> object:
        return self._post()

    def urllib3(self) -> object:
        return self._pool.urlopen("POST", self.path, body=self.message, headers=self.headers).data

    def requests(self) -> object:
        return self._session.post(self._url, data=self.message, headers=self.headers).content

    def variants(self) -> dict[str, Callable[[], object]]:
        return {
            "floor": self.floor,
            "zeep work": self.zeep_work,
            "http.client": self.http_client,
            "urllib3": self.urllib3,
            "requests": self.requests,
        }

    def close(self) -> None:
        self._conn.close()
        self._pool.close()
        self._session.close()


def floor_rows(
    per_call: dict[str, list[float]], plan: Plan, target_zeep: float, target_floor: float
) -> list[Row]:
    """soapguard against the floor (judged), and every reference against zeep (info)."""
    zeep_s, floor_s, guard_s = per_call["zeep"], per_call["floor"], per_call["soapguard"]
    to_floor = Spread.of(ratios(guard_s, floor_s))
    floor_to_zeep = Spread.of(ratios(floor_s, zeep_s))
    rows = [
        Row(
            section="1 keep-alive",
            metric="client CPU per GetBalance call, soapguard / floor",
            result=to_floor.ratio_text(),
            target=f"<= {target_floor}x",
            status=judged(to_floor.median <= target_floor),
            detail=(
                f"floor = zeep's own work (envelope build + reply parse, no HTTP) + raw "
                f"http.client POST of the same bytes on a kept-alive TLS connection: median "
                f"{us(Spread.of(floor_s).median)} = {floor_to_zeep.ratio_text()} of zeep; "
                f"target {target_zeep}x zeep = {target_zeep / floor_to_zeep.median:.2f}x floor"
            ),
            data={
                "ratio": vars(to_floor),
                "floor_s": floor_s,
                "floor_to_zeep": vars(floor_to_zeep),
            },
        )
    ]
    for name in REFERENCES[1:]:
        spread = Spread.of(ratios(per_call[name], zeep_s))
        rows.append(
            Row(
                section="1 keep-alive",
                metric=f"client CPU per call, {_WHAT[name]} / zeep",
                result=spread.ratio_text(),
                target="-",
                status="info",
                detail=f"median {us(Spread.of(per_call[name]).median)}; same blocks",
                data={"ratio": vars(spread), "seconds": per_call[name]},
            )
        )
    return rows


_WHAT = {
    "zeep work": "zeep's envelope build + reply parse alone (no HTTP)",
    "http.client": "raw http.client POST of the same bytes alone",
    "urllib3": "urllib3 HTTPSConnectionPool.urlopen of the same bytes alone",
    "requests": "requests Session.post of the same bytes alone",
}
