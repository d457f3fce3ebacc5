"""Client tests: a real gRPC server on loopback with small scripted servicers (for what the
node cannot be made to do on demand: answer UNAVAILABLE exactly N times, lose a reply, drop a
stream mid-way), and helpers to build signed orders with the devnet's user keys.

The end-to-end tests (test_e2e.py) run the CLI against a real Node on a devnet instead.
"""

from __future__ import annotations

import time
from concurrent import futures

import grpc
import pytest

from devnet.accounts import account
from protocol import GaslessOrder, OrbitalOrder

USER = account(4)          # devnet users are accounts 4-9
OTHER_USER = account(5)
SETTLER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
USDC = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


class FakeClock:
    """Monotonic time that only moves when the retry policy sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def serve():
    """serve(add_fn, servicer) -> "127.0.0.1:port" of a real grpc server running it."""
    servers = []

    def start(add, servicer) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        add(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"
    yield start
    for server in servers:
        server.stop(grace=None)


def make_order(user=USER, nonce: int = 7, amount: int = 100_000_000) -> GaslessOrder:
    now = int(time.time())
    return GaslessOrder(
        origin_settler=SETTLER, user=user.address, nonce=nonce, origin_chain_id=31337,
        open_deadline=now + 600, fill_deadline=now + 3600,
        order=OrbitalOrder(input_token=USDC, input_amount=amount, output_token=USDC,
                           output_amount=amount - 1_000_000, recipient=user.address,
                           destination_chain_id=31338))


def intent_pb(order: GaslessOrder, status: int = 1, version: int = 1):
    """The Intent message a node would return for ``order``."""
    from orbital.v1 import intents_pb2
    msg = intents_pb2.Intent(
        id="0x" + order.order_id.hex(), status=status, user=order.user, nonce=str(order.nonce),
        origin_chain="devnet-a", origin_chain_id=order.origin_chain_id,
        destination_chain="devnet-b", destination_chain_id=order.order.destination_chain_id,
        origin_settler=order.origin_settler, input_token=order.order.input_token,
        input_amount=str(order.order.input_amount), output_token=order.order.output_token,
        min_output_amount=str(order.order.output_amount), recipient=order.order.recipient,
        version=version, source="gasless")
    msg.open_deadline.seconds = order.open_deadline
    msg.fill_deadline.seconds = order.fill_deadline
    msg.created_at.seconds = int(time.time())
    return msg
