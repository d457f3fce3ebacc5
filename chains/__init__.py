"""Chain libraries: what the node knows of chains, apart from any actor.

- :mod:`chains.evm`: EVM JSON-RPC with failover, log ingest into ``chain_event``, the one
  transaction sender (``evm_tx``), chain config and the chain/token directory.
- :mod:`chains.fields`: request fields of chain values (amounts, addresses, order ids),
  parsed once for every gRPC service.

Layer: above ``runtime`` (store, config machinery) and ``protocol``, below ``actors``; it
knows nothing of actors or of the node's wiring (make lint checks it).
"""

__all__: list[str] = []
