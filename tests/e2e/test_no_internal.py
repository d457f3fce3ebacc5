"""No request makes the node answer INTERNAL (or UNKNOWN): a property-based pass over every
RPC of every service the node serves, through a real node on the devnet.

Requests are built from the messages' own descriptors, so a field added to a proto (or a
service added to the node) is covered without touching this file: integers at and around
their limits (2^63, 2^64 - 1, negative), Unicode digits ("²", "١٢٣"), empty, oversized and
control-character strings, strings that look like the values the API expects (0x hex, base58
keys, decimal amounts, chain names) and nested messages. Each answer must be OK or a
refusal with a precise status; INTERNAL and UNKNOWN are bugs (an exception escaped a
handler). Admin calls carry the token, so the pass reaches past authentication.
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbital.v1 import (admin_pb2, admin_pb2_grpc, chain_pb2, chain_pb2_grpc, intents_pb2,
                        intents_pb2_grpc, quoter_pb2, quoter_pb2_grpc, solver_pb2,
                        solver_pb2_grpc)
from tests.e2e.conftest import ADMIN

MODULES = [(admin_pb2, admin_pb2_grpc), (chain_pb2, chain_pb2_grpc),
           (intents_pb2, intents_pb2_grpc), (quoter_pb2, quoter_pb2_grpc),
           (solver_pb2, solver_pb2_grpc)]
# StopActor and RestartActor are covered too: no generated path names a real actor (paths
# are "group/kind/name"), so they answer NOT_FOUND or INVALID_ARGUMENT and the node stays whole.
BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

_INTS = {
    d.FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), d.FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), d.FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), d.FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_TEXTS = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "1" * 90, "²", "١٢٣", "0x", "0x" + "f" * 64,
                     "0x" + "0" * 40, "0x" + "F" * 40, "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT",
                     "devnet-a", "devnet-b", "solana-local", "31337", "USDC", "WETH", "\x00",
                     "../../etc/passwd", "1e30", "NaN", "115792089237316195423570985008687907853"
                     "269984665640564039457584007913129639936", "a" * 70_000]),
    st.text(max_size=40),
    st.from_regex(r"0x[0-9a-fA-F]{0,70}", fullmatch=True),
)


def _int(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [v for v in (lo, hi, 0, 1, -1, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1)
             if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def _scalar(f: d.FieldDescriptor, depth: int) -> st.SearchStrategy:
    if f.type in _INTS:
        return _int(*_INTS[f.type])
    if f.type == d.FieldDescriptor.TYPE_STRING:
        return _TEXTS
    if f.type == d.FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=80)
    if f.type == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if f.type in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        return st.one_of(st.sampled_from([0.0, -1.0, 1e308, float("inf"), float("-inf"),
                                          float("nan")]), st.floats(width=32))
    if f.type == d.FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in f.enum_type.values] + [99])
    if f.type == d.FieldDescriptor.TYPE_MESSAGE:
        return message(f.message_type, depth + 1)
    raise AssertionError(f"field type {f.type} of {f.full_name} not covered")


def _set(msg: Message, f: d.FieldDescriptor, value) -> None:
    if f.type == d.FieldDescriptor.TYPE_MESSAGE:
        if f.is_repeated:
            for v in value:
                getattr(msg, f.name).add().CopyFrom(v)
        else:
            getattr(msg, f.name).CopyFrom(value)
    elif f.is_repeated:
        getattr(msg, f.name).extend(value)
    else:
        setattr(msg, f.name, value)


@st.composite
def _build(draw, desc: d.Descriptor, depth: int) -> Message:
    from google.protobuf import message_factory
    msg = message_factory.GetMessageClass(desc)()
    for f in desc.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            continue   # maps: none in requests today
        if f.type == d.FieldDescriptor.TYPE_MESSAGE and depth >= 3:
            continue
        if not draw(st.booleans()):
            continue
        value = _scalar(f, depth)
        _set(msg, f, draw(st.lists(value, max_size=3) if f.is_repeated
                          else value))
    return msg


def message(desc: d.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    return _build(desc, depth)


def _methods():
    for pb2, pb2_grpc in MODULES:
        for service in pb2.DESCRIPTOR.services_by_name.values():
            stub = getattr(pb2_grpc, f"{service.name}Stub")
            for m in service.methods:
                yield pytest.param(stub, m, id=f"{service.name}.{m.name}")


@pytest.fixture(scope="module")
def node_channel(devnet_info, tmp_path_factory):
    import os

    from node import build_app
    from tests._node import TestNodes
    from tests.e2e.conftest import node_config
    path = tmp_path_factory.mktemp("no-internal")
    with TestNodes(path) as nodes:
        cfg = node_config(path / "supervisor.yaml", devnet_info, f"sqlite:///{path}/orbital.db",
                          path / "var")
        env = {**os.environ, "ORBITAL_ATTESTER_KEY": devnet_info.account("attester").private_key}
        node = nodes.start(cfg, build_app, env=env)
        channel = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
        yield channel
        channel.close()


def _call(channel: grpc.Channel, stub_cls, method: d.MethodDescriptor, request: Message):
    stub = stub_cls(channel)
    fn = getattr(stub, method.name)
    if method.client_streaming:
        responses = fn(iter([request]), metadata=ADMIN, timeout=5)
        return next(iter(responses), None)
    if method.server_streaming:
        responses = fn(request, metadata=ADMIN, timeout=5)
        try:
            return next(iter(responses), None)
        finally:
            responses.cancel()
    return fn(request, metadata=ADMIN, timeout=5)


@pytest.mark.parametrize("stub_cls, method", list(_methods()))
def test_no_request_gets_internal(node_channel, stub_cls, method):
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=message(method.input_type))
    def check(request):
        try:
            _call(node_channel, stub_cls, method, request)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return   # our own cancel of a stream
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and method.server_streaming:
                return   # a stream that is quiet is a valid answer
            assert exc.code() not in BAD, (f"{method.full_name} answered {exc.code().name}: "
                                           f"{exc.details()!r} to {request!r}"[:2000])
    check()
