"""An acknowledged intent survives ``kill -9`` of the node right after the acknowledgement."""

from __future__ import annotations

import concurrent.futures
import signal

import grpc

from devnet import free_ports
from orbital.v1 import intents_pb2, intents_pb2_grpc
from tests.node.test_process import Proc

from .conftest import USERS, make_order, signed_request, write_node_config


def test_kill_9_right_after_acks_loses_nothing(tmp_path, database_url):
    port = free_ports(1)[0]
    config = write_node_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                               intents="user_rate: {rate: 10000, burst: 10000}", grpc_port=port)
    proc = Proc(config, str(tmp_path))
    proc.wait_for("node started")
    reqs = [signed_request(make_order(USERS[i % 6], nonce=5000 + i)) for i in range(120)]
    acked: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = intents_pb2_grpc.IntentServiceStub(ch)

        def submit(req):
            try:
                return stub.SubmitIntent(req, timeout=10).id
            except grpc.RpcError:
                return None
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(submit, r) for r in reqs]
            for i, f in enumerate(futures):
                if f.result():
                    acked.append(f.result())
                if i == 80:
                    proc.p.send_signal(signal.SIGKILL)  # mid-stream: later calls may fail
    proc.p.wait(10)
    assert len(acked) >= 80
    proc = Proc(config, str(tmp_path))
    try:
        proc.wait_for("node started")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = intents_pb2_grpc.IntentServiceStub(ch)
            for oid in acked:
                assert stub.GetIntent(intents_pb2.GetIntentRequest(id=oid), timeout=10).version >= 1
    finally:
        proc.stop()
