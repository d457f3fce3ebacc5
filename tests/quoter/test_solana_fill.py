"""The quoter's cost of a fill on a Solana destination (EstimateSolanaFill), asked of the
real Quoter actor over a real solana-local (in-process, free port): lamports from
``chains.solana.fees`` converted to the token filled with the quoter's own price sources
(SOL priced like any symbol); every refusal names its field; no SOL price is
FAILED_PRECONDITION, a dead RPC UNAVAILABLE; and the config keys checked at load."""

from __future__ import annotations

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.keypair import Keypair
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from actors import quoter
from actors.quoter import EstimateSolanaFill, GetPrice, Quoter, QuoterConfig, QuoterSpec
from chains.evm.config import ChainConfig
from chains.solana import SolanaChainConfig, SolanaFeeConfig, solana_chains_of
from devnet import free_ports
from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_rpc import serve
from node import new_app
from protocol.solana import associated_token_address
from runtime import (ChildSpec, ConfigError, FailedPrecondition, InvalidArgument, SupervisorSpec,
                     Unavailable)
from runtime.config import App, load_text
from runtime.testing import start_tree

MINT = str(mint_keypair().pubkey())
A, B = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4]
RENT_165 = 2_039_280


def _app() -> App:
    app = new_app()
    app.section("chains", dict[str, ChainConfig | SolanaChainConfig])
    quoter.install(app)
    return app


def _yaml(url: str, *, prices: str = "    SOL: {static: '150'}\n", quoter_extra: str = "") -> str:
    return (f"chains:\n  sol:\n    kind: solana\n    rpc: ['{url}']\n    rpc_timeout: 2\n"
            f"    rpc_backoff_max: 0.1\n    tokens:\n      USDC: {{mint: '{MINT}', decimals: 6}}\n"
            f"quoter:\n  cache_ttl: 0\n{quoter_extra}  prices:\n    USDC: {{static: '1'}}\n"
            + prices)


@pytest.fixture
def local():
    srv = serve("127.0.0.1", 0, slot_ms=0)
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def start():
    refs = []

    def run(text: str):
        cfg = load_text(text, "q.yaml", _app())
        spec = QuoterSpec(cfg.section("quoter", QuoterConfig), {}, solana_chains_of(cfg))
        ref, ctx, _ = start_tree(SupervisorSpec(children=(ChildSpec("quoter", Quoter, spec),)))
        refs.append(ref)
        return lambda msg: ctx.registry.ask("quoter", msg, timeout=10)
    yield run
    for ref in refs:
        ref.stop()


def _priced_transfer(local, price: int) -> None:
    local.chain.send_instructions([
        set_compute_unit_limit(60_000), set_compute_unit_price(price),
        transfer_checked(TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID, source=A.usdc_account, mint=mint_keypair().pubkey(),
            dest=B.usdc_account, owner=A.pubkey, amount=1, decimals=6))], A.keypair, [])


def test_fill_to_an_existing_account_in_usdc(local, start):
    for i in range(1, 151):              # the window: 100..15000 micro-lamports per CU
        _priced_transfer(local, 100 * i)
    ask = start(_yaml(local.url))
    est = ask(EstimateSolanaFill("sol", "usdc", str(B.pubkey)))
    assert (est.cost.base_fee, est.cost.compute_unit_price, est.cost.priority_fee,
            est.cost.rent) == (5_000, 11_300, 678, 0)              # p75, 60,000 CU (defaults)
    assert est.cost.recipient_token_account == str(B.usdc_account)
    # 5,678 lamports at 150 USD/SOL = 0.0008517 USD = 851.7 base units: rounded up.
    assert (est.lamports, est.symbol, est.mint, est.token_amount) == (5_678, "USDC", MINT, 852)
    assert (est.sol_usd, est.token_usd) == (150, 1)
    by_mint = ask(EstimateSolanaFill("sol", MINT, str(B.pubkey)))
    assert by_mint.token_amount == 852
    assert ask(GetPrice("SOL")).price == 150


def test_fill_that_creates_the_token_account(local, start):
    ask = start(_yaml(local.url, quoter_extra="  solana_fees: {percentile: 90, "
                                              "fill_compute_units: 80000, "
                                              "priority_fee_floor: 10000}\n"))
    wallet = str(Keypair().pubkey())
    est = ask(EstimateSolanaFill("sol", "USDC", wallet))
    assert est.cost.recipient_token_account == associated_token_address(wallet, MINT)
    assert (est.cost.compute_unit_price, est.cost.priority_fee, est.cost.rent) == \
        (10_000, 800, RENT_165)                                    # the floor: no price paid yet
    # 5,000 + 800 + 2,039,280 = 2,045,080 lamports x 150 / 1e9 = 0.306762 USD.
    assert (est.lamports, est.token_amount) == (2_045_080, 306_762)


@pytest.mark.parametrize("msg, field, text", [
    (EstimateSolanaFill("", "USDC", str(B.pubkey)), "chain", "required"),
    (EstimateSolanaFill("devnet-a", "USDC", str(B.pubkey)), "chain", "unknown Solana chain"),
    (EstimateSolanaFill("sol", "WETH", str(B.pubkey)), "token", "unknown token 'WETH' on sol"),
    (EstimateSolanaFill("sol", "", str(B.pubkey)), "token", "required"),
    (EstimateSolanaFill("sol", "USDC", "0x" + "11" * 20), "recipient", "0x (EVM) address"),
    (EstimateSolanaFill("sol", "USDC", ""), "recipient", "required"),
    (EstimateSolanaFill("sol", "USDC", "l" * 44), "recipient", "not a Solana public key"),
    (EstimateSolanaFill("sol", "USDC", str(B.pubkey), ("nope",)), "writes[0]", "not a Solana"),
    (EstimateSolanaFill("sol", "USDC", str(B.pubkey),
                        tuple(str(Keypair().pubkey()) for _ in range(128))), "writes", "at most"),
])
def test_refusals_name_the_field(local, start, msg, field, text):
    ask = start(_yaml(local.url))
    with pytest.raises(InvalidArgument) as err:
        ask(msg)
    assert err.value.violations[0][0] == field and text in str(err.value)


def test_no_sol_price_and_a_dead_rpc(local, start):
    ask = start(_yaml(local.url, prices=""))
    with pytest.raises(FailedPrecondition, match="no price source configured for SOL"):
        ask(EstimateSolanaFill("sol", "USDC", str(B.pubkey)))
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    ask = start(_yaml(dead))
    with pytest.raises(Unavailable, match="chain sol"):
        ask(EstimateSolanaFill("sol", "USDC", str(B.pubkey)))


@pytest.mark.parametrize("extra, prices, key", [
    ("  solana_fees: {percentile: 101}\n", "", "solana_fees.percentile"),
    ("  solana_fees: {fill_compute_units: 0}\n", "", "solana_fees.fill_compute_units"),
    ("  solana_fees: {priority_fee_floor: -1}\n", "", "solana_fees.priority_fee_floor"),
    ("  solana_fees: {percentile: 50, cu: 1}\n", "", "solana_fees.cu"),
    ("  solana_native_token: 'S O L'\n", "", "solana_native_token"),
    ("", "    WSOL: {static: '150'}\n", "prices.WSOL"),        # not SOL: no such token
])
def test_config_refusals(extra, prices, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_text(_yaml("http://127.0.0.1:1", prices=prices, quoter_extra=extra), "q.yaml",
                  _app())


def test_sol_is_priced_only_with_a_solana_chain():
    text = "chains: {}\nquoter:\n  prices:\n    SOL: {static: '150'}\n"
    with pytest.raises(ConfigError, match="no chain has a token 'SOL'"):
        load_text(text, "q.yaml", _app())
    cfg = load_text(_yaml("http://127.0.0.1:1", quoter_extra="  solana_native_token: wsol\n",
                          prices="    WSOL: {static: '150'}\n"), "q.yaml", _app())
    q = cfg.section("quoter", QuoterConfig)
    assert (q.solana_native_token, q.solana_fees) == ("wsol", SolanaFeeConfig())
