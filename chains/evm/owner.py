"""What every actor that sends EVM transactions per chain shares (attester, rebalance
strategies, bridge relayer): its ``senders`` (one :class:`~chains.evm.txsend.TxSender` per
chain, built by :meth:`SenderOwner.build_senders` and owned by the actor, so they close
before the ``rpcs`` they use), and the test seam ``after_record``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime import Actor
    from runtime.store import Store

    from .rpc import RpcClient
    from .signer import Signer
    from .txsend import Fence, TxSender

    # Mixed into a runtime.Actor (``class Attester(SenderOwner, Actor)``): its ``ctx``,
    # ``path`` and ``own`` are the actor's. At runtime the mixin stays a plain class, so
    # the actor's MRO is unchanged.
    _ActorBase = Actor
else:
    _ActorBase = object

__all__ = ["SenderOwner"]


class SenderOwner(_ActorBase):
    """Mixin for :class:`runtime.Actor` subclasses holding ``self.senders``/``self.rpcs``
    (RPC clients the actor owns: ``self.own(RpcClient(...))``)."""

    # Set by the actor's setup before build_senders:
    rpcs: dict[str, RpcClient]
    account: Signer
    store: Store
    # Set by build_senders:
    senders: dict[str, TxSender]

    # Test seam: called by the senders after a transaction is recorded, before its
    # broadcast; a test raises from it to crash the actor exactly there.
    after_record: Callable[[Any], None] | None = None

    def build_senders(self, chain_ids: dict[str, int], cfg: Any,
                      fence: Fence | Callable[[str], Fence] | None = None) -> None:
        """``self.senders``: one TxSender per chain (name -> chain id) over ``self.rpcs``,
        signing as ``self.account``, recording in ``self.store`` under this actor's path,
        with ``cfg``'s fee and replacement settings, wired to the ``after_record`` seam.

        ``fence``: the actor's singleton lease (one for every chain), or a function of
        the chain's name giving that chain's lease; each sender writes in it and checks
        it before every broadcast (:class:`~chains.evm.txsend.Fence`)."""
        from .txsend import TxSender
        self.senders = {}
        for name, chain_id in chain_ids.items():
            f = fence(name) if callable(fence) else fence
            s = self.own(TxSender(name, chain_id, self.rpcs[name], self.account, self.store,
                                  owner=self.path, cfg=cfg, clock=self.ctx.clock.wall,
                                  fence=f))
            s.after_record = self._after_record
            self.senders[name] = s

    def _after_record(self, row: Any) -> None:
        hook = type(self).after_record
        if hook is not None:
            hook(row)

