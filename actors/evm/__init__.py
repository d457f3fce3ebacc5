"""Private EVM helpers of the chain actors (JSON-RPC with failover)."""

from .rpc import Endpoint, RpcClient, RpcError, RpcUnavailable

__all__ = ["Endpoint", "RpcClient", "RpcError", "RpcUnavailable"]
