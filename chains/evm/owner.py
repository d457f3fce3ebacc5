"""What every actor that sends EVM transactions per chain shares (attester, rebalance
strategies, bridge relayer): its signer (:meth:`SenderOwner.load_account`), its
``senders`` (one :class:`~chains.evm.txsend.TxSender` per chain, built by
:meth:`SenderOwner.build_senders` and owned by the actor, so they close before the
``rpcs`` they use), and the test seam ``after_record``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime import Actor
    from runtime.store import Store

    from .rpc import RpcClient
    from .signer import Signer, SignerConfig
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
    # Set by load_account: chain name -> its own signer (``remote_chains``), else account
    chain_accounts: dict[str, Signer] = {}
    # Set by build_senders:
    senders: dict[str, TxSender]

    # Test seam: called by the senders after a transaction is recorded, before its
    # broadcast; a test raises from it to crash the actor exactly there.
    after_record: Callable[[Any], None] | None = None

    def load_account(self, cfg: SignerConfig, *, timeout: float = 10.0) -> None:
        """``self.account``: the actor's :class:`~chains.evm.signer.Signer` from its
        config (a key or keystore, registered for redaction, or a remote signer, closed
        with the actor). All the actor signs with afterwards; it holds no key when
        remote."""
        from .signer import RemoteSigner
        account = cfg.signer(timeout=timeout)
        if isinstance(account, RemoteSigner):
            self.own(account)
        self.account = account
        # a remote signer bound to one chain id per URL: that chain's sender signs there
        self.chain_accounts = {name: self.own(cfg.signer(timeout=timeout, chain=name))
                               for name in cfg.remote_chains if cfg.remote}

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
            account = self.chain_accounts.get(name, self.account)
            s = self.own(TxSender(name, chain_id, self.rpcs[name], account, self.store,
                                  owner=self.path, cfg=cfg, clock=self.ctx.clock.wall,
                                  fence=f))
            s.after_record = self._after_record
            self.senders[name] = s

    def _after_record(self, row: Any) -> None:
        hook = type(self).after_record
        if hook is not None:
            hook(row)

