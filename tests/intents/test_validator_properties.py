"""Property tests of SubmitIntent's validation through the real server: whatever the typed
data and signature, the answer is INVALID_ARGUMENT, UNAUTHENTICATED or RESOURCE_EXHAUSTED,
never a crash (INTERNAL), and nothing is stored."""

from __future__ import annotations

import copy
import json

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node import build_app
from orbital.v1 import intents_pb2, intents_pb2_grpc
from tests._node import TestNodes

from .conftest import make_order, signed_request, write_node_config

P = intents_pb2
ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED,
           grpc.StatusCode.RESOURCE_EXHAUSTED}


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    """One node for the module: hypothesis calls the test many times, not the fixture."""
    tmp = tmp_path_factory.mktemp("props")
    with TestNodes(tmp) as nodes:
        path = write_node_config(tmp / "supervisor.yaml", f"sqlite:///{tmp}/orbital.db",
                                 tmp / "var")
        yield nodes.stub(nodes.start(path, build_app), intents_pb2_grpc.IntentServiceStub)


BASE = json.loads(signed_request(make_order(nonce=1, open_in=10**6, fill_in=2 * 10**6)).typed_data)

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**300, max_value=2**300),
                    st.floats(allow_nan=True), st.text(max_size=80),
                    st.sampled_from(["0x", "0x" + "00" * 20, "0x" + "ff" * 32, "1e3", "-1", " 7",
                                     "0x" + "g" * 40, str(2**256), str(2**32)]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=8)


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


PATHS = list(_paths(BASE))


@st.composite
def mutated(draw):
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for p in path[:-1]:
                parent = parent[p]
            op = draw(st.sampled_from(["set", "delete", "add"]))
            if op == "set":
                parent[path[-1]] = draw(values)
            elif op == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        except (KeyError, IndexError, TypeError):
            pass
    return json.dumps(doc)


signatures = st.one_of(
    st.binary(min_size=65, max_size=65).map(lambda b: "0x" + b.hex()),
    st.binary(max_size=80).map(lambda b: "0x" + b.hex()),
    st.text(max_size=140))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.one_of(mutated(), st.text(max_size=200), values.map(json.dumps)), signature=signatures)
def test_any_input_is_refused_precisely_and_stores_nothing(stub, typed, signature):
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitIntent(P.SubmitIntentRequest(typed_data=typed, signature=signature), timeout=10)
    assert err.value.code() in ALLOWED, (err.value.code(), err.value.details())
    assert err.value.details()


def test_nothing_was_stored(stub):
    assert stub.ListIntents(P.ListIntentsRequest()).intents == []
