"""Sanity of the spyne interop server: plain zeep loads its WSDL and calls it over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

from servers.spyne_app import SpyneServer, balance_of


@pytest.fixture
def session(ca_file: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.verify = ca_file
        yield session


def test_wsdl_is_spynes_and_points_at_the_server(
    spyne_server: SpyneServer, session: requests.Session
) -> None:
    response = session.get(spyne_server.wsdl_url)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    addresses = root.findall(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert [a.get("location") for a in addresses] == [spyne_server.url]


def test_zeep_calls_both_operations(spyne_server: SpyneServer, session: requests.Session) -> None:
    client = zeep.Client(spyne_server.wsdl_url, transport=Transport(session=session))
    assert client.service.GetBalance("42") == balance_of("42")
    assert isinstance(client.service.GetBalance("7"), Decimal)
    assert client.service.Echo("grüße <&>") == "grüße <&>"


def test_untrusted_client_is_refused(spyne_server: SpyneServer) -> None:
    with requests.Session() as untrusting, pytest.raises(requests.exceptions.SSLError):
        untrusting.get(spyne_server.wsdl_url, verify=True)
