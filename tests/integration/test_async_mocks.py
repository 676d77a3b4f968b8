"""Users' async tests that mock HTTP with pytest-httpx or respx keep working with AsyncClient.

Both mock below soapguard (pytest-httpx patches ``httpx.AsyncHTTPTransport``'s
``handle_async_request``, respx httpcore's pool), so a mocked call still runs through
soapguard's attempt loop: its retries and error classes apply to mocked responses too.
No socket is opened; "integration" only because the mocks sit where real I/O would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
import zeep.exceptions
from pytest_httpx import HTTPXMock

import soapguard
from soapguard import Config
from soapguard.testing.ledger import wsdl_dir

URL = "https://ledger.example/ledger"
BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
BALANCE = b"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><GetBalanceResponse xmlns="urn:soapguard:ledger">
<account>42</account><balance>10.50</balance><currency>EUR</currency>
</GetBalanceResponse></soap:Body></soap:Envelope>"""


def service(**config: Any) -> Any:
    cfg = Config(idempotent_operations=("Get*",), backoff_initial=0.001, **config)
    client = soapguard.AsyncClient(str(wsdl_dir() / "ledger.wsdl"), config=cfg)
    return client.create_service(BINDING, URL)


@pytest.mark.asyncio
async def test_pytest_httpx_mocks_a_call_and_its_retry(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=503)
    httpx_mock.add_response(url=URL, content=BALANCE, headers={"Content-Type": "text/xml"})
    events: list[dict[str, Any]] = []
    result = await service(on_event=events.append).GetBalance(account="42")
    assert result.balance == 10.5
    assert [e["event"] for e in events] == ["soapguard.attempt_failed", "soapguard.call_recovered"]
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.asyncio
async def test_pytest_httpx_exceptions_become_soapguards(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("mocked"), url=URL)
    with pytest.raises(httpx.ReadTimeout) as info:
        await service(max_attempts=1).GetBalance(account="42")
    assert isinstance(info.value, soapguard.SoapGuardError)
    assert info.value.report["error.type"] == "timeout.read"  # type: ignore[attr-defined]


def test_respx_mocks_a_call() -> None:
    async def main() -> Any:
        with respx.mock(assert_all_called=True) as router:
            router.post(URL).mock(return_value=httpx.Response(200, content=BALANCE))
            return await service().GetBalance(account="42")

    assert asyncio.run(main()).account == "42"


def test_respx_soap_fault_is_zeeps_fault() -> None:
    fault = b"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>no</faultstring>
</soap:Fault></soap:Body></soap:Envelope>"""

    async def main() -> None:
        with respx.mock() as router:
            router.post(URL).mock(return_value=httpx.Response(500, content=fault))
            await service().GetBalance(account="42")

    with pytest.raises(zeep.exceptions.Fault) as info:
        asyncio.run(main())
    assert info.value.report["error.type"] == "soap.fault"  # type: ignore[attr-defined]
