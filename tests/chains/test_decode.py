"""The watcher's fast log decoder agrees with protocol.events on every event it knows."""

from __future__ import annotations

import random

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address

from chains.evm.ingest import event_rows, fast_decode
from protocol.events import EVENTS, decode_log


def _value(typ: str, rnd: random.Random):
    if typ == "address":
        return to_checksum_address(rnd.randbytes(20))
    if typ == "bytes32":
        return rnd.randbytes(32)
    if typ == "bool":
        return rnd.random() < 0.5
    if typ.startswith("int"):
        bits = int(typ[3:] or 256)
        return rnd.randrange(-2 ** (bits - 1), 2 ** (bits - 1))
    bits = int(typ[4:] or 256)
    return rnd.choice([0, 1, 2 ** bits - 1, rnd.randrange(2 ** bits)])


@pytest.mark.parametrize("spec", [e for e in EVENTS if e.name != "Open"], ids=lambda e: e.name)
def test_fast_decoder_matches_protocol_events(spec):
    rnd = random.Random(spec.name)
    for _ in range(50):
        values = {n: _value(t, rnd) for n, t, _ in spec.inputs}
        topics = [spec.topic] + ["0x" + encode([t], [values[n]]).hex()
                                 for n, t, i in spec.inputs if i]
        plain = [(n, t) for n, t, i in spec.inputs if not i]
        lg = {"topics": topics,
              "data": "0x" + encode([t for _, t in plain], [values[n] for n, _ in plain]).hex()}
        assert fast_decode(lg) == decode_log(lg) == (spec.name, values)


def test_unknown_topics_are_skipped_and_rows_carry_decimal_strings():
    from protocol.events import BRIDGE_DEPOSIT
    dep = {"topics": [BRIDGE_DEPOSIT.topic, "0x" + "ab" * 32, "0x" + "00" * 12 + "11" * 20],
           "data": "0x" + encode(["address", "uint256", "uint256", "address"],
                                 ["0x" + "22" * 20, 2**200 + 1, 31338, "0x" + "33" * 20]).hex(),
           "blockNumber": "0x10", "blockHash": "0x" + "AA" * 32,
           "transactionHash": "0x" + "bb" * 32, "logIndex": "0x2", "address": "0x" + "CC" * 20}
    other = dict(dep, topics=["0x" + "99" * 32])
    [row] = event_rows("devnet-a", [dep, other])
    assert row[:8] == ("devnet-a", 16, "0x" + "aa" * 32, "0x" + "bb" * 32, 2, "0x" + "cc" * 20,
                       "BridgeDeposit", "0x" + "ab" * 32)
    assert '"amount":"' + str(2**200 + 1) + '"' in row[8]


def _log(spec, values) -> dict:
    plain = [(n, t) for n, t, i in spec.inputs if not i]
    return {"topics": [spec.topic] + ["0x" + encode([t], [values[n]]).hex()
                                      for n, t, i in spec.inputs if i],
            "data": "0x" + encode([t for _, t in plain], [values[n] for n, _ in plain]).hex(),
            "blockNumber": "0x1f", "blockHash": "0x" + "Ab" * 32,
            "transactionHash": "0x" + "cD" * 32, "logIndex": "0x7",
            "address": "0x" + "eF" * 20}


@pytest.mark.parametrize("spec", [e for e in EVENTS if e.name != "Open"], ids=lambda e: e.name)
def test_generated_row_builders_match_the_generic_rows(spec):
    """event_rows' straight-line builders (str logs) give byte-for-byte the rows of the
    generic path (decode, to_json, json.dumps), which logs with bytes topics take."""
    rnd = random.Random("rows-" + spec.name)
    for _ in range(30):
        lg = _log(spec, {n: _value(t, rnd) for n, t, _ in spec.inputs})
        generic = dict(lg, topics=[bytes.fromhex(t[2:]) for t in lg["topics"]])
        [fast] = event_rows("c", [lg])
        assert [fast] == event_rows("c", [generic])
        assert fast[1] == 31 and fast[4] == 7 and fast[2] == "0x" + "ab" * 32


@pytest.mark.parametrize("spec", [e for e in EVENTS if e.name != "Open"], ids=lambda e: e.name)
def test_malformed_static_logs_are_refused(spec):
    lg = _log(spec, {n: _value(t, random.Random(1)) for n, t, _ in spec.inputs})
    for bad in (dict(lg, data=lg["data"] + "00"),
                dict(lg, topics=lg["topics"] + ["0x" + "00" * 32]),
                dict(lg, topics=lg["topics"][:1] + [t[:-2] for t in lg["topics"][1:]])
                if len(lg["topics"]) > 1 else dict(lg, data=lg["data"][:-2])):
        with pytest.raises(ValueError, match="malformed"):
            event_rows("c", [bad])


def _open_log(rnd: random.Random) -> dict:
    from protocol.events import OPEN, RESOLVED_ORDER_TYPE
    b32 = lambda: rnd.randbytes(32)  # noqa: E731
    resolved = (to_checksum_address(rnd.randbytes(20)), rnd.randrange(2**256), rnd.randrange(2**32),
                rnd.randrange(2**32), b32(),
                [(b32(), rnd.randrange(2**256), b32(), rnd.randrange(2**256))],
                [(b32(), rnd.randrange(2**256), b32(), rnd.randrange(2**256))] * rnd.randrange(3),
                [(rnd.randrange(2**256), b32(), rnd.randbytes(rnd.randrange(300)))])
    oid = rnd.randbytes(32)
    return {"topics": [OPEN.topic, "0x" + oid.hex()],
            "data": "0x" + encode([RESOLVED_ORDER_TYPE], [resolved]).hex(),
            "blockNumber": "0x1", "blockHash": "0x" + "ab" * 32,
            "transactionHash": "0x" + "cd" * 32, "logIndex": "0x0", "address": "0x" + "ef" * 20}


@pytest.mark.parametrize("spec", EVENTS, ids=lambda e: e.name)
def test_indexed_rows_decode_to_the_records_of_the_logs(spec):
    """protocol.logs.from_json (every reader of chain_event) reads back from the row's JSON
    exactly the typed record of the decoded log, for every event, Open included."""
    from protocol.logs import from_json, record
    rnd = random.Random("typed-" + spec.name)
    for _ in range(20):
        lg = _open_log(rnd) if spec.name == "Open" else \
            _log(spec, {n: _value(t, rnd) for n, t, _ in spec.inputs})
        [row] = event_rows("c", [lg])
        name, values = decode_log(lg)
        assert row[6] == name
        assert from_json(name, row[8]) == record(name, values)


@pytest.mark.parametrize("name, args, what", [
    ("Filled", '{"orderId": "0x' + "12" * 32 + '", "filler": "0x' + "11" * 20 + '"}',
     "Filled: args has no 'fillKey'"),
    ("Filled", '{"orderId": "0x12"}', r"Filled.orderId \(bytes32\): expected 32 bytes, got 1"),
    ("NonceInvalidated", '{"user": "0x' + "11" * 20 + '", "nonce": "0x10"}',
     r"NonceInvalidated.nonce \(uint256\): not a decimal"),
    ("NonceInvalidated", '{"user": "0x' + "11" * 19 + '", "nonce": "1"}',
     r"NonceInvalidated.user \(address\): not an address"),
    ("NonceInvalidated", '{"user": "0x' + "11" * 20 + '", "nonce": 1}',
     r"NonceInvalidated.nonce \(uint256\): not a decimal"),
    ("Settled", "[1]", "Settled: args must be a JSON object"),
    ("Transfer", "{}", "'Transfer' is not an indexed event"),
])
def test_malformed_row_args_are_refused_by_name(name, args, what):
    from protocol.logs import from_json
    with pytest.raises(ValueError, match=what):
        from_json(name, args)
