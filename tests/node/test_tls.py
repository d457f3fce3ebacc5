"""TLS on the node's gRPC ports, through real servers and real clients: the client library,
the ``orbital`` commands and the real grpcurl. Certificates are made in the test with the
real ``openssl`` (a CA, the node's certificate for 127.0.0.1, an operator's client
certificate, and one from a CA the node does not trust)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from clients import OrbitalClient, TlsOptions, open_channel
from node.cli import main as orbital
from orbital.v1 import admin_pb2, admin_pb2_grpc
from runtime import ConfigError
from runtime.config import load_text

from tests._tls import make_certs, node_tls

from .conftest import ADMIN, TOKEN, make_app, write_config

GRPCURL = Path(sys.executable).parent / "grpcurl"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _start(nodes, tmp_path, database_url, **node):
    path = write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                        {"a": "hi"}, **node)
    return nodes.start(path, make_app)


def _grpcurl(*args: str) -> subprocess.CompletedProcess:
    assert GRPCURL.exists(), "`make test` installs grpcurl into the venv"
    return subprocess.run([str(GRPCURL), *args], capture_output=True, text=True, timeout=30)


def test_a_tls_node_answers_tls_clients_and_refuses_plaintext(nodes, tmp_path, database_url, certs):
    node = _start(nodes, tmp_path, database_url, tls=node_tls(certs))
    target = f"127.0.0.1:{node.grpc_port}"
    tls = TlsOptions(ca=str(certs / "ca.pem"))
    with open_channel(target, tls) as channel:
        tree = admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                                metadata=ADMIN, timeout=10)
    assert any(a.path == "chains/echo/a" for a in tree.actors)
    with OrbitalClient(target, tls=tls, admin_token=TOKEN) as client:
        assert any(a.path == "chains/echo/a" for a in client.tree().actors)
    # plaintext is not spoken: the connection fails before any call (UNAVAILABLE)
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as err:
        admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                         metadata=ADMIN, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # a client that does not trust the node's CA refuses the node
    with open_channel(target, TlsOptions(ca=str(certs / "rogue-ca.pem"))) as channel, \
            pytest.raises(grpc.RpcError) as err:
        admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                         metadata=ADMIN, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # the real grpcurl, as the README shows it: reflection and health over TLS
    listed = _grpcurl("-cacert", str(certs / "ca.pem"), target, "list")
    assert listed.returncode == 0 and "orbital.v1.AdminService" in listed.stdout, listed.stderr
    health = _grpcurl("-cacert", str(certs / "ca.pem"), target, "grpc.health.v1.Health/Check")
    assert health.returncode == 0 and "SERVING" in health.stdout, health.stderr
    plain = _grpcurl("-plaintext", target, "list")
    assert plain.returncode != 0


def test_mutual_tls_guards_the_admin_port(nodes, tmp_path, database_url, certs):
    node = _start(nodes, tmp_path, database_url, tls=node_tls(certs, mutual=True),
                  admin_listen="127.0.0.1:0")
    public, admin = f"127.0.0.1:{node.grpc_port}", f"127.0.0.1:{node.admin_port}"
    assert node.admin_port and node.admin_port != node.grpc_port
    ca = str(certs / "ca.pem")
    operator = TlsOptions(ca, str(certs / "operator.pem"), str(certs / "operator.key"))
    with open_channel(admin, operator) as channel:
        tree = admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                                metadata=ADMIN, timeout=10)
    assert any(a.path == "chains/echo/a" for a in tree.actors)
    # no client certificate, or one of another CA: the handshake fails, no call is made
    for who in (TlsOptions(ca), TlsOptions(ca, str(certs / "intruder.pem"),
                                           str(certs / "intruder.key"))):
        with open_channel(admin, who) as channel, pytest.raises(grpc.RpcError) as err:
            admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                             metadata=ADMIN, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # the public port serves the rest without client certificates, and not AdminService
    with open_channel(public, TlsOptions(ca)) as channel:
        with pytest.raises(grpc.RpcError) as err:
            admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                             metadata=ADMIN, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        health = _grpcurl("-cacert", ca, public, "grpc.health.v1.Health/Check")
        assert health.returncode == 0 and "SERVING" in health.stdout, health.stderr
    # grpcurl with the operator's certificate, and the orbital command
    got = _grpcurl("-cacert", ca, "-cert", str(certs / "operator.pem"), "-key",
                   str(certs / "operator.key"), "-H", f"authorization: Bearer {TOKEN}", admin,
                   "orbital.v1.AdminService/GetTree")
    assert got.returncode == 0 and "chains/echo/a" in got.stdout, got.stderr
    refused = _grpcurl("-cacert", ca, "-H", f"authorization: Bearer {TOKEN}", admin,
                       "orbital.v1.AdminService/GetTree")
    assert refused.returncode != 0


def test_orbital_commands_take_tls_options(nodes, tmp_path, database_url, certs, capsys,
                                           monkeypatch):
    node = _start(nodes, tmp_path, database_url, tls=node_tls(certs, mutual=True),
                  admin_listen="127.0.0.1:0")
    monkeypatch.setenv("ORBITAL_ADMIN_TOKEN", TOKEN)
    args = ["--address", f"127.0.0.1:{node.admin_port}", "--tls-ca", str(certs / "ca.pem"),
            "--tls-cert", str(certs / "operator.pem"), "--tls-key", str(certs / "operator.key")]
    assert orbital(["tree", *args]) == 0
    assert "chains/echo/a" in capsys.readouterr().out
    # the same from the environment
    monkeypatch.setenv("ORBITAL_TLS_CA", str(certs / "ca.pem"))
    monkeypatch.setenv("ORBITAL_TLS_CERT", str(certs / "operator.pem"))
    monkeypatch.setenv("ORBITAL_TLS_KEY", str(certs / "operator.key"))
    assert orbital(["tree", "--address", f"127.0.0.1:{node.admin_port}"]) == 0
    assert "chains/echo/a" in capsys.readouterr().out


@pytest.mark.parametrize("node, words", [
    ({"grpc_listen": "0.0.0.0:50051"}, "grpc_listen 0.0.0.0:50051 is not a loopback address"),
    ({"admin_listen": "10.1.2.3:7000"}, "admin_listen 10.1.2.3:7000 is not a loopback address"),
    ({"tls": {"cert": "/nonexistent.pem", "key": "/nonexistent.key"}}, "cannot read"),
    ({"tls": "CERTS", "admin_listen": None, "client_ca": True}, "needs admin_listen"),
])
def test_config_refuses_plaintext_off_loopback_and_bad_tls(tmp_path, certs, node, words):
    node = dict(node)
    if node.get("tls") == "CERTS":
        node["tls"] = node_tls(certs, mutual=node.pop("client_ca"))
        node.pop("admin_listen")
    path = write_config(tmp_path / "supervisor.yaml", "sqlite:///x.db", tmp_path / "var", **node)
    text = Path(path).read_text()
    with pytest.raises(ConfigError) as err:
        load_text(text, path, make_app(), env=dict(os.environ))
    assert words in str(err.value) and "supervisor.yaml:" in str(err.value)


def test_plaintext_off_loopback_only_when_said_and_tls_is_enough(tmp_path, certs):
    for node in ({"grpc_listen": "0.0.0.0:50051", "allow_plaintext": True},
                 {"grpc_listen": "0.0.0.0:50051", "tls": node_tls(certs)}):
        path = write_config(tmp_path / "supervisor.yaml", "sqlite:///x.db", tmp_path / "var",
                            **node)
        cfg = load_text(Path(path).read_text(), path, make_app(), env=dict(os.environ))
        assert cfg.node.grpc_listen == "0.0.0.0:50051"
