"""The dev cluster's PKI: one CA, the API server's serving certificate, an admin client.

As kwokctl and envtest do, one CA signs both the serving and the client certificates,
and a separate key pair signs service-account tokens. ECDSA P-256 keys keep generation
in the milliseconds, so every `qd dev up` gets fresh credentials. Time comes in as an
argument so tests can check validity windows without a clock.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=365)
#: Names the API server answers to, from inside and outside the (fake) cluster.
SERVING_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class ClusterPKI:
    ca: KeyPair
    serving: KeyPair
    admin: KeyPair
    service_account_key_pem: bytes
    service_account_pub_pem: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def generate(now: datetime, cluster_name: str, service_ip: str = "10.96.0.1") -> ClusterPKI:
    """Fresh credentials for one dev cluster, valid from a little before `now` for a year."""
    ca_key = _key()
    ca_name = _name(f"quarterdeck-dev-{cluster_name}-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    serving_key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVING_DNS]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", service_ip)]
    serving_cert = (
        _builder(_name("kube-apiserver"), ca_name, serving_key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    admin_key = _key()
    admin_cert = (
        _builder(_name("quarterdeck-admin", "system:masters"), ca_name, admin_key.public_key(), now)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = _key()
    pem = serialization.Encoding.PEM
    return ClusterPKI(
        ca=KeyPair(ca_cert.public_bytes(pem), _key_pem(ca_key)),
        serving=KeyPair(serving_cert.public_bytes(pem), _key_pem(serving_key)),
        admin=KeyPair(admin_cert.public_bytes(pem), _key_pem(admin_key)),
        service_account_key_pem=_key_pem(sa_key),
        service_account_pub_pem=sa_key.public_key().public_bytes(
            pem, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
