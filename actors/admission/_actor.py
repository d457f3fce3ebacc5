"""``intents/admission``: reads the origin chain for the book and the intent service.

Why an actor of its own: a chain read blocks for a round trip (or a timeout), and the book
is one thread for every intent. Here the reads run on this actor's thread; the intent
service asks with ``registry.ask_async`` (no thread waits), the book with a ``reply_to``
(it is told :class:`OrderChecked` later, and never waits).

Reads: ``balanceOf(user)`` and ``allowance(user, settler)`` of the input token and
``usedNonces(user, nonce)`` of the settler (for a Permit2-form order: ``allowance(user,
Permit2)`` instead, and Permit2's ``nonceBitmap(user, nonce >> 8)`` too), one ``eth_call`` each, pinned to one block
(the head, re-read after ``head_ttl``), sent as one JSON-RPC batch per chain for every
check queued together (``handle_batch``) and cached for that block: a burst of orders
from one user costs one batch per block. A check with ``wallet_digest`` (the book's check of
a contract wallet's order, before each round) also asks the wallet ``isValidSignature`` at
that block (``chains.evm.wallets.ask_wallet``, cached for the block like the rest); an
order signed by a key is never put to a wallet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chains.evm.rpc import RpcClient, RpcError, RpcUnavailable
from chains.evm.wallets import ask_wallet
from protocol import PERMIT2_ADDRESS
from runtime import Actor, InvalidArgument, OrbitalError, Unavailable

from ._config import AdmissionConfig
from ._messages import CheckOrder, OrderChecked
from ._rules import Reading, Verdict, decide

__all__ = ["Admission", "AdmissionSpec"]

log = logging.getLogger("orbital.admission")

_BALANCE = keccak(text="balanceOf(address)")[:4]
_ALLOWANCE = keccak(text="allowance(address,address)")[:4]
_USED_NONCES = keccak(text="usedNonces(address,uint256)")[:4]
_NONCE_BITMAP = keccak(text="nonceBitmap(address,uint256)")[:4]
_CACHE_MAX = 100_000   # reads kept for one block (a devnet mines only on demand)


@dataclass(frozen=True)
class AdmissionSpec:
    admission: AdmissionConfig
    chains: tuple  # ((name, ChainConfig), ...) sorted: hashable, compared on reload


class Admission(Actor):
    kind = "admission"
    batched = frozenset({CheckOrder})

    def setup(self) -> None:
        spec: AdmissionSpec = self.config
        self.cfg = spec.admission
        self.chains = dict(spec.chains)
        self._rpcs: dict[str, RpcClient] = {}
        # chain -> (monotonic time the head was read, head); chain -> (block, {call: value})
        self._heads: dict[str, tuple[float, int]] = {}
        self._cache: dict[str, tuple[int, dict[tuple, Any]]] = {}
        self._checks = self.ctx.services.metrics.counter(
            "orbital_admission_checks_total", "orders checked on their origin chain, by result",
            ("result",))

    def handle(self, message: Any) -> Any:
        if isinstance(message, CheckOrder):
            result = self.handle_batch([message])[0]
            if isinstance(result, OrbitalError):
                raise result
            return result
        return super().handle(message)

    def handle_batch(self, messages: list[CheckOrder]) -> list[Any]:
        by_chain: dict[str, list[int]] = {}
        results: list[Any] = [None] * len(messages)
        for i, m in enumerate(messages):
            by_chain.setdefault(m.chain, []).append(i)
        for chain, idx in by_chain.items():
            try:
                readings = self._read(chain, [messages[i] for i in idx])
            except OrbitalError as exc:
                for i in idx:
                    results[i] = exc
                continue
            for i, reading in zip(idx, readings):
                m = messages[i]
                results[i] = decide(chain, reading, user=m.user, token=m.token,
                                    settler=m.settler, amount=m.amount, nonce=m.nonce,
                                    permit2=PERMIT2_ADDRESS if m.permit2 else "")
        out: list[Any] = []
        for m, r in zip(messages, results):
            self._count(r)
            if m.reply_to:
                reply = OrderChecked(m.tag, r, "") if isinstance(r, Verdict) \
                    else OrderChecked(m.tag, None, str(r))
                try:
                    self.ctx.registry.tell(m.reply_to, reply)
                except OrbitalError:
                    pass   # the asker is restarting: it checks again when it runs
                out.append(None)
            else:
                out.append(r)
        return out

    def _count(self, r: Any) -> None:
        self._checks.labels("unreadable" if not isinstance(r, Verdict)
                            else "ok" if r.ok else "refused").inc()

    # ---- chain reads ----------------------------------------------------------------
    def _rpc(self, chain: str) -> RpcClient:
        rpc = self._rpcs.get(chain)
        if rpc is None:
            cfg = self.chains.get(chain)
            if cfg is None:
                raise InvalidArgument(f"chain {chain!r} is not configured")
            rpc = self.own(RpcClient(cfg.rpc, timeout=min(cfg.rpc_timeout, self.cfg.rpc_timeout),
                                     backoff_max=cfg.rpc_backoff_max, clock=self.ctx.clock.now))
            self._rpcs[chain] = rpc
        return rpc

    def _head(self, chain: str, rpc: RpcClient) -> int:
        now = self.ctx.clock.now()
        seen = self._heads.get(chain)
        if seen is not None and now - seen[0] < self.cfg.head_ttl:
            return seen[1]
        head = int(rpc.call("eth_blockNumber"), 16)
        self._heads[chain] = (now, head)
        return head

    def _read(self, chain: str, checks: list[CheckOrder]) -> list[Reading]:
        rpc = self._rpc(chain)
        try:
            head = self._head(chain, rpc)
            block, values = self._cache.get(chain, (-1, {}))
            if block != head or len(values) > _CACHE_MAX:   # bounded on a chain that idles
                values = {}
                self._cache[chain] = (head, values)
            keys: list[tuple] = []
            for m in checks:
                for key in _keys(m):
                    if key not in values and key not in keys:
                        keys.append(key)
            if keys:
                tag = hex(head)
                answers = rpc.batch([("eth_call", [_call(k), tag]) for k in keys])
                for key, raw in zip(keys, answers):
                    values[key] = _word(raw, key)
            for m in checks:
                asked = _wallet_key(m)
                if asked is not None and asked not in values:
                    answer = ask_wallet(rpc, m.user, bytes.fromhex(m.wallet_digest[2:]),
                                        bytes.fromhex(m.signature[2:]), hex(head))
                    values[asked] = "" if answer.valid else answer.describe()
        except RpcUnavailable as exc:
            raise Unavailable(f"the origin chain {chain} cannot be read to check the order "
                              f"({exc}); retry") from None
        except (RpcError, ValueError) as exc:
            raise Unavailable(f"the origin chain {chain} did not answer the order's checks "
                              f"({str(exc)[:200]}); retry") from None
        out = []
        for m in checks:
            bal, allow, nonce, *bitmap = _keys(m)
            permit2_used = bool(bitmap) and bool(values[bitmap[0]] >> (m.nonce & 0xFF) & 1)
            wallet = _wallet_key(m)
            out.append(Reading(head, values[bal], values[allow], values[nonce] != 0, permit2_used,
                               values[wallet] if wallet is not None else ""))
        return out


def _keys(m: CheckOrder) -> tuple[tuple, ...]:
    """The reads of one check; a Permit2-form order's allowance is to Permit2, and it adds
    the word of Permit2's nonce bitmap that holds its nonce."""
    token, user, settler = m.token.lower(), m.user.lower(), m.settler.lower()
    if not m.permit2:
        return (("balance", token, user), ("allowance", token, user, settler),
                ("nonce", settler, user, m.nonce))
    permit2 = PERMIT2_ADDRESS.lower()
    return (("balance", token, user), ("allowance", token, user, permit2),
            ("nonce", settler, user, m.nonce), ("bitmap", permit2, user, m.nonce >> 8))


def _wallet_key(m: CheckOrder) -> tuple | None:
    """The wallet's answer's key in the block's cache; None for an order signed by a key."""
    if not m.wallet_digest:
        return None
    return ("wallet", m.user.lower(), m.wallet_digest.lower(), m.signature.lower())


def _call(key: tuple) -> dict[str, str]:
    what = key[0]
    if what == "balance":
        data = _BALANCE + abi_encode(["address"], [key[2]])
    elif what == "allowance":
        data = _ALLOWANCE + abi_encode(["address", "address"], [key[2], key[3]])
    elif what == "bitmap":
        data = _NONCE_BITMAP + abi_encode(["address", "uint256"], [key[2], key[3]])
    else:
        data = _USED_NONCES + abi_encode(["address", "uint256"], [key[2], key[3]])
    return {"to": key[1], "data": "0x" + data.hex()}


def _word(raw: Any, key: tuple) -> int:
    """The one 32-byte word a view returns; an empty reply (no contract there) is an error,
    not a zero: a misconfigured token must not read as 'unfunded'."""
    if not isinstance(raw, str) or len(raw) < 66:
        raise ValueError(f"eth_call {key[0]} on {key[1]}: unexpected reply {str(raw)[:80]}")
    return int(raw[2:66], 16)

