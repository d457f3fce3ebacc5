"""Certificates made by the real ``openssl`` for the TLS tests: a CA, a node certificate for
127.0.0.1 and localhost, an operator's client certificate, and an intruder's from a CA the
node does not trust. A plain module (like :mod:`tests._node`), shared by test packages."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["make_certs", "node_tls"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(d: Path, name: str, ca: str, *, san: str | None) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    ext = []
    if san:
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        ext = ["-extfile", f"{name}.ext"]
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *ext, cwd=d)


def make_certs(d: Path) -> Path:
    """ca.pem/key, rogue-ca.pem/key, node.pem/key (SAN 127.0.0.1, localhost),
    operator.pem/key (by ca), intruder.pem/key (by rogue-ca), in ``d``."""
    for ca in ("ca", "rogue-ca"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                 "-subj", f"/CN={ca}", cwd=d)
    _issue(d, "node", "ca", san="DNS:localhost,IP:127.0.0.1")
    _issue(d, "operator", "ca", san=None)
    _issue(d, "intruder", "rogue-ca", san=None)
    return d


def node_tls(certs: Path, *, mutual: bool = False) -> dict:
    """The ``node.tls`` section for the node certificate (``mutual``: client_ca too)."""
    tls = {"cert": str(certs / "node.pem"), "key": str(certs / "node.key"),
           "ca": str(certs / "ca.pem")}
    if mutual:
        tls["client_ca"] = str(certs / "ca.pem")
    return tls
