"""The DER reader behind pins and expiry warnings agrees with ``cryptography`` and is total."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from soapguard.tls.x509 import first_pem_certificate, parse, spki_pin


def der_of(leaf: trustme.LeafCert) -> bytes:
    pem = leaf.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def expected_pin(der: bytes) -> str:
    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def samples(ca: trustme.CA) -> list[bytes]:
    """Leaf certificates of both key types, UTCTime and GeneralizedTime, odd subjects."""
    return [
        der_of(ca.issue_cert("localhost", key_type=trustme.KeyType.RSA)),
        der_of(ca.issue_cert("localhost", key_type=trustme.KeyType.ECDSA)),
        der_of(
            ca.issue_cert(
                "example.test",
                common_name="Zürich - 東京",
                organization_name="Ünïcode, Inc.",
                not_after=datetime.datetime(2100, 1, 1),  # GeneralizedTime (year >= 2050)
            )
        ),
        der_of(ca.issue_cert("short.test", not_after=datetime.datetime(2031, 7, 4, 12, 30, 5))),
    ]


def _not_after(cert: x509.Certificate) -> datetime.datetime:
    """``not_valid_after_utc`` (cryptography 42+), else the naive UTC value of 41, the floor."""
    aware = getattr(cert, "not_valid_after_utc", None)
    if isinstance(aware, datetime.datetime):
        return aware
    return cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def test_agrees_with_cryptography(samples: list[bytes]) -> None:
    for der in samples:
        info = parse(der)
        cert = x509.load_der_x509_certificate(der)
        assert info.pin == expected_pin(der) == spki_pin(der)
        assert info.sha256 == hashlib.sha256(der).hexdigest()
        assert info.not_after == _not_after(cert)
        names = {a.rfc4514_attribute_name: a.value for a in cert.subject}
        assert info.subject is not None
        for short, value in names.items():
            assert f"{short}={value}" in info.subject


def test_ca_certificate_and_pem_extraction(ca: trustme.CA) -> None:
    der = first_pem_certificate(b"junk before\n" + ca.cert_pem.bytes())
    assert der is not None
    info = parse(der)
    assert info.not_after.year == 3000
    assert info.subject is not None
    assert "O=trustme" in info.subject
    assert first_pem_certificate(b"-----BEGIN PRIVATE KEY-----\nAAAA\n") is None
    broken = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"
    assert first_pem_certificate(broken) is None


def test_days_left_is_floored(samples: list[bytes]) -> None:
    info = parse(samples[3])  # 2031-07-04T12:30:05Z
    assert info.not_after_text == "2031-07-04T12:30:05Z"
    now = info.not_after.timestamp() - 9.5 * 86400
    assert info.days_left(now) == 9
    assert info.days_left(info.not_after.timestamp() + 1) == -1


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x80", b"\x30\x85\x00\x00\x00\x00\x01", b"\x04\x00", b"\x30\x00"],
)
def test_malformed_input_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_certificates_raise_only_value_error(
    samples: list[bytes], data: st.DataObject
) -> None:
    der = bytearray(data.draw(st.sampled_from(samples)))
    for _ in range(data.draw(st.integers(1, 4))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(der)))
    with contextlib.suppress(ValueError):
        parse(bytes(der[:cut]) if data.draw(st.booleans()) else bytes(der))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_value_error(blob: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse(blob)
