"""Chain libraries: what the node knows of chains, apart from any actor.

- :mod:`chains.evm`: EVM JSON-RPC with failover, log ingest into ``chain_event``, the one
  transaction sender (``evm_tx``), chain config.
- :mod:`chains.solana`: Solana JSON-RPC, SPL transfers, the Solana sender and fees.
- :mod:`chains.directory`: chains and tokens of both kinds by name, chain id, symbol or
  address, as intents name them.
- :mod:`chains.fields`: request fields of chain values (amounts, addresses, order ids),
  parsed once for every gRPC service.

Layer: above ``runtime`` (store, config machinery) and ``protocol``, below ``actors``; it
knows nothing of actors or of the node's wiring (make lint checks it).
"""

__all__: list[str] = []
