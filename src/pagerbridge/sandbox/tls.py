"""HTTPS for the sandbox: a fresh CA and certificate (trustme); the CA goes where clients look."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pagerbridge.paths import data_dir

CA_FILENAME = "sandbox-ca.pem"
#: Names the certificate is valid for (connect to any of them).
CERT_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    def cleanup(self) -> None:
        """Remove the server's key and certificate (the CA file stays for clients)."""
        shutil.rmtree(self.key.parent, ignore_errors=True)


def default_ca_path() -> Path:
    return data_dir() / CA_FILENAME


def make_tls(ca_out: Path | None = None, extra_names: tuple[str, ...] = ()) -> TLSFiles:
    """Issue a certificate for loopback names; write the CA to ``ca_out`` (default: data dir).

    The server's key and chain go to a private temporary directory (uvicorn wants files).
    """
    import trustme

    ca = trustme.CA(organization_name="pagerbridge sandbox")
    names = list(dict.fromkeys([*CERT_NAMES, *extra_names]))
    cert = ca.issue_cert(*names)
    ca_path = ca_out or default_ca_path()
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_path))
    private = Path(tempfile.mkdtemp(prefix="pagerbridge-sandbox-tls-"))
    os.chmod(private, 0o700)
    cert_path = private / "cert.pem"
    key_path = private / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_path), append=True)
    cert.private_key_pem.write_to_path(str(key_path))
    os.chmod(key_path, 0o600)
    return TLSFiles(ca=ca_path, cert=cert_path, key=key_path)
