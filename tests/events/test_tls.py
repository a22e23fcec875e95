"""An https webhook is sent to the address just checked, with the host's name as the TLS
server name (SNI) and the certificate checked against that name."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pyarrow as pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelyard.events.delivery import Deliverer
from modelyard.events.service import WebhookService
from modelyard.sdk.client import Client


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_sends_the_name_as_sni_and_checks_the_certificate(
    client: Client, hooks: WebhookService, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path, "hooks.internal")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []

    def seen(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = seen
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            pass  # the client refused the self-signed certificate
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        hooks.allowed_hosts = ("hooks.internal",)
        hooks.resolve = lambda host, port: ["127.0.0.1"]
        client.create_project("lab")
        hooks.create("lab", f"https://hooks.internal:{port}/hook", events=["*"])
        client.dataset_service.register("d", pa.table({"x": [1]}), project="lab")
        Deliverer(hooks, worker="w", timeout_s=5).run_pass()
        thread.join(10)
    finally:
        listener.close()
    assert names == ["hooks.internal"]  # connected to 127.0.0.1, named hooks.internal
    [delivery] = hooks.deliveries("lab")
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "CERTIFICATE_VERIFY_FAILED" in str(delivery.last_error), delivery.last_error
