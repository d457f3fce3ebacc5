"""solana-local: the LiteSVM-backed Solana JSON-RPC server of the devnet."""
