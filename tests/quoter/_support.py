"""Config helpers shared by the quoter tests (kept out of conftest so modules can import them)."""

from __future__ import annotations

from actors import quoter
from chains.evm.config import ChainConfig
from node import new_app
from runtime.config import App

__all__ = ["make_app", "quoter_yaml"]


def make_app() -> App:
    app = new_app()
    app.section("chains", dict[str, ChainConfig])
    quoter.install(app)
    return app


def quoter_yaml(devnet_info, dai, *, cache_ttl: float = 0, extra: str = "") -> str:
    lines = ["chains:"]
    for c in devnet_info.chains:
        k = c.contracts
        lines += [f"  {c.name}:", f"    chain_id: {c.chain_id}", f"    rpc: ['{c.rpc_url}']",
                  f"    contracts: {{settler: '{k.settler}', bridge: '{k.bridge}'}}",
                  "    tokens:"]
        for sym, t in k.tokens.items():
            lines.append(f"      {sym}: {{address: '{t.address}', decimals: {t.decimals}}}")
        if c.name == "devnet-a":
            lines.append(f"      DAI: {{address: '{dai['DAI']}', decimals: 18}}")
    a, b = devnet_info.chains
    pool = a.contracts.pools["USDC/WETH"].address
    feeds = a.contracts.feeds
    lines += [
        "quoter:",
        "  protocol_fee_bps: 5",
        "  default_slippage_bps: 50",
        f"  cache_ttl: {cache_ttl}",
        "  max_staleness: 600",
        "  max_deviation_bps: 200",
        "  pools:",
        f"    USDC/WETH@devnet-a: {{chain: devnet-a, address: '{pool}'}}",
        f"    USDC/WETH@devnet-b: {{chain: devnet-b, address: '{pool}'}}",
        f"    USDC/DAI@devnet-a: {{chain: devnet-a, address: '{dai['USDC/DAI']}'}}",
        f"    DAI/WETH@devnet-a: {{chain: devnet-a, address: '{dai['DAI/WETH']}'}}",
        "  prices:",
        "    USDC:",
        "      static: '1'",
        "      feeds:",
        f"        - {{name: 'feed:USDC/USD@devnet-a', chain: devnet-a, address: '{feeds['USDC/USD'].address}'}}",
        f"        - {{name: 'feed:USDC/USD@devnet-b', chain: devnet-b, address: '{feeds['USDC/USD'].address}'}}",
        "    WETH:",
        "      fallback: '3000'",
        "      feeds:",
        f"        - {{name: 'feed:WETH/USD@devnet-a', chain: devnet-a, address: '{feeds['WETH/USD'].address}'}}",
        f"        - {{name: 'feed:WETH/USD@devnet-b', chain: devnet-b, address: '{feeds['WETH/USD'].address}'}}",
        "      pools: [USDC/WETH@devnet-a, USDC/WETH@devnet-b]",
        "    DAI:",
        "      feeds:",
        f"        - {{name: 'not-a-feed', chain: devnet-a, address: '{a.contracts.settler}'}}",
    ]
    return "\n".join(lines) + "\n" + extra
