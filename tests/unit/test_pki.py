"""The dev cluster PKI: who signs what, for whom, and for how long."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from quarterdeck.devcluster.pki import generate

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_serving_and_admin_certificates_are_signed_by_the_ca() -> None:
    creds = generate(NOW, "dev")
    ca = x509.load_pem_x509_certificate(creds.ca.cert_pem)
    for pair in (creds.serving, creds.admin):
        cert = x509.load_pem_x509_certificate(pair.cert_pem)
        cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_serving_certificate_names_loopback_and_in_cluster_names() -> None:
    cert = x509.load_pem_x509_certificate(generate(NOW, "dev").serving.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in san.get_values_for_type(x509.DNSName)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_admin_is_a_cluster_admin_client() -> None:
    cert = x509.load_pem_x509_certificate(generate(NOW, "dev").admin.cert_pem)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in orgs] == ["system:masters"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku


def test_validity_window_covers_now_and_a_year() -> None:
    cert = x509.load_pem_x509_certificate(generate(NOW, "dev").admin.cert_pem)
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - NOW >= timedelta(days=364)


def test_every_cluster_gets_its_own_ca() -> None:
    assert generate(NOW, "a").ca.cert_pem != generate(NOW, "a").ca.cert_pem
