"""Fixtures for the reference solver: a real devnet on free ports (never 8545/8546), both chains
snapshotted per test, signed orders from devnet users, and solver-side chain clients."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

import devnet
from solver import ChainSpec, EvmChain, SolverKey
from devnet import free_ports
from protocol import GaslessOrder, OrbitalOrder, abi
from node import new_app
from runtime.testing import wait_until  # noqa: F401 - shared by the test modules here
from tests._node import TestNodes, chains_section, yaml_value

ONE_USDC = 10**6


@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    state = tmp_path_factory.mktemp("refsolver-devnet")
    with devnet.running(state, ports=free_ports(2), quiet=True) as info:
        yield info


@pytest.fixture(scope="session")
def web3s(devnet_info):
    return {c.chain_id: Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 10})) for c in devnet_info.chains}


@pytest.fixture
def snapshot(web3s):
    """Both chains reverted to their pre-test state afterwards."""
    snaps = {cid: w3.provider.make_request("evm_snapshot", [])["result"] for cid, w3 in web3s.items()}
    yield
    for cid, snap in snaps.items():
        web3s[cid].provider.make_request("evm_revert", [snap])


@pytest.fixture(scope="session")
def specs(devnet_info):
    return [ChainSpec(c.name, c.chain_id, c.rpc_url, c.contracts.settler,
                      {s: t.address for s, t in c.contracts.tokens.items()}) for c in devnet_info.chains]


@pytest.fixture(scope="session")
def solver_key(devnet_info):
    return SolverKey(Account.from_key(devnet_info.account("solver").private_key))


@pytest.fixture
def solver_chains(snapshot, specs, solver_key):
    """Fresh EvmChain per test (its nonce counter must not outlive the snapshot)."""
    return {s.chain_id: EvmChain(s, solver_key, receipt_timeout=10) for s in specs}


@pytest.fixture
def chain_pair(solver_chains, devnet_info):
    a, b = devnet_info.chains
    return solver_chains[a.chain_id], solver_chains[b.chain_id]


class Orders:
    """Builds and signs USDC(origin) -> USDC(dest) orders for devnet users."""

    def __init__(self, info, web3s):
        self.info, self.web3s = info, web3s
        self.users = [a for a in info.accounts if "user" in a.roles]
        self._nonce = 1000

    def make(self, user=None, *, origin=0, dest=1, input_amount=100 * ONE_USDC, min_output=99 * ONE_USDC,
             recipient=None, symbol="USDC", nonce=None):
        """A signed order; ``nonce`` None: a fresh one (give one to sign two orders with it)."""
        user = user or self.users[0]
        o, d = self.info.chains[origin], self.info.chains[dest]
        now = self.web3s[o.chain_id].eth.get_block("latest")["timestamp"]
        if nonce is None:
            self._nonce += 1
            nonce = self._nonce
        swap = OrbitalOrder(o.contracts.tokens[symbol].address, input_amount, d.contracts.tokens[symbol].address,
                            min_output, recipient or user.address, d.chain_id)
        order = GaslessOrder(o.contracts.settler, user.address, nonce, o.chain_id, now + 600, now + 3600, swap)
        signature = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=order.typed_data()).signature).hex()
        return order, signature

    def balance(self, chain_index: int, who: str, symbol: str = "USDC") -> int:
        c = self.info.chains[chain_index]
        token = self.web3s[c.chain_id].eth.contract(address=c.contracts.tokens[symbol].address, abi=abi("TestToken"))
        return token.functions.balanceOf(who).call()


@pytest.fixture(scope="session")
def orders(devnet_info, web3s):
    return Orders(devnet_info, web3s)


# ---- a real node (chain watchers, intent book, solver service) on loopback ----------------------
def make_app(quoter: bool = False):
    import importlib

    app = new_app()
    for name in ("chain_watcher", "book", "solvers") + (("quoter",) if quoter else ()):
        importlib.import_module(f"actors.{name}").install(app)
    return app


# Static prices: the quoter then needs nothing but the chains (gas from eth_feeHistory).
QUOTER = {"cache_ttl": 0, "prices": {"USDC": {"static": "1"}, "WETH": {"static": "3000"}}}


@pytest.fixture
def node_factory(tmp_path, devnet_info):
    """``start(port=0, db=None, **intents)`` -> a started Node with the book and solver service."""
    with TestNodes(tmp_path) as nodes:
        def start(port: int = 0, db: str | None = None, quoter: bool = False, clock=None,
                  **intents):
            # on a FakeClock each book message is its own offer round (tests step the clock
            # for auction windows only)
            settings = {"heartbeat_interval": 0.2, "heartbeat_timeout": 2,
                        "auction_window": 0.2,
                        **({"round_interval": 0} if clock is not None else {})} | intents
            sections = {"intents": {k: yaml_value(v) for k, v in settings.items()},
                        "chains": chains_section(devnet_info.chains, confirmations=0,
                                                 poll_interval=0.1)}
            path = nodes.config(db, sections | ({"quoter": QUOTER} if quoter else {}),
                                grpc_port=port,
                                supervision={"intents/solvers": {"intensity": 1000, "period": 60}})
            return nodes.start(path, make_app(quoter), clock=clock)
        yield start


@pytest.fixture
def solver_factory(request):
    """``start(node_or_target, account="solver", devnet=None, **config)`` -> a started
    in-process Solver (stopped after the test) on ``devnet``'s devnet.json and keys, by
    default the session's devnet, started only when a test asks for it."""
    from solver import Solver, load_config

    solvers = []

    def start(target, account="solver", devnet=None, **overrides):
        devnet = devnet or request.getfixturevalue("devnet_info")
        if not isinstance(target, str):
            target = f"127.0.0.1:{target.grpc_port}"
        cfg = load_config(target=target, devnet_dir=devnet.state_dir,
                          env={"ORBITAL_SOLVER_KEY": devnet.account(account).private_key},
                          backoff=None, **overrides)
        solver = Solver(cfg).start()
        solvers.append(solver)
        return solver
    yield start
    for solver in solvers:
        solver.stop()


