"""``orbital.v1.ChainService``: the chain watchers' live state and the indexed events.

``ListChains`` asks each watcher for its live view (short timeout) and falls back to the
persisted cursor when the watcher is not running; Solana chains are listed beside the EVM
ones, in slots (:meth:`ChainServicer._solana_info`). ``ListEvents`` reads ``chain_event``
(the store is the source of truth), ordered by insertion id, which follows block order per
chain; the page token is opaque (base64 of the last id and a digest of the filters) and
stays valid while new events are appended. A reorg may delete rows behind a token: paging
simply continues after it.
"""

from __future__ import annotations

import math

from chains.evm.config import chains_of
from chains.evm.models import ChainCursor, ChainEvent
from chains.solana import SolanaCursor, solana_chains_of
from orbital.v1 import chain_pb2, chain_pb2_grpc
from runtime import ActorUnavailable, InvalidArgument, public_url, redact
from runtime.grpc import decode_token, encode_token, filters_digest, unary
from chains import fields

from ._messages import WatcherStatus

__all__ = ["ChainServicer", "chain_service", "DEFAULT_PAGE", "MAX_PAGE"]

DEFAULT_PAGE, MAX_PAGE = 100, 1000
_STATUS_TIMEOUT = 2.0


def _synced(start: int, indexed: int, confirmed: int | None) -> float:
    """ChainInfo.synced_percent: the share of blocks ``start..confirmed`` indexed (100 when
    nothing is left), floored to a tenth so a watcher still behind never shows 100; 0 while
    the chain's head is not known yet."""
    if confirmed is None:
        return 0.0
    if indexed >= confirmed:
        return 100.0
    done = max(indexed - start + 1, 0)
    return math.floor(1000.0 * done / (confirmed - start + 1)) / 10.0


def _digest(req) -> str:
    return filters_digest(req.chain, req.name, req.order_id.lower(), req.from_block, req.to_block)


class ChainServicer(chain_pb2_grpc.ChainServiceServicer):
    def __init__(self, node) -> None:
        self.node = node
        self.metrics = node.metrics

    def _chains(self) -> dict:
        return chains_of(self.node.config)

    # ---- ListChains ---------------------------------------------------------------------
    def _status(self, name: str) -> dict | None:
        try:
            return self.node.registry.ask(f"chains/watcher/{name}", WatcherStatus(),
                                          timeout=_STATUS_TIMEOUT)
        except ActorUnavailable:
            return None

    def _solana_info(self, name: str, cfg, cursor) -> chain_pb2.ChainInfo:
        """A Solana chain: head = slot at processed, confirmed_block = slot at the chain's
        commitment, indexed_block = the watcher's cursor (last processed slot)."""
        st = self._status(name)
        if st is None:
            indexed = cursor.slot if cursor else (
                cfg.start_slot - 1 if cfg.start_slot is not None else -1)
            head = cursor.head if cursor else 0
            return chain_pb2.ChainInfo(
                name=name, kind="solana", commitment=cfg.commitment, head=head,
                confirmed_block=max(indexed, 0), indexed_block=indexed, lag=0,
                synced_percent=100.0,
                active_rpc=public_url(cfg.rpc[0]), running=False,
                rpc=[chain_pb2.RpcEndpoint(url=public_url(u)) for u in cfg.rpc])
        return chain_pb2.ChainInfo(
            name=name, kind="solana", commitment=cfg.commitment, head=st["head"] or 0,
            confirmed_block=st["confirmed"] or 0, indexed_block=st["indexed"],
            lag=st["lag"] or 0, active_rpc=public_url(st["active_rpc"]), running=True,
            synced_percent=_synced(cfg.start_slot or 0, st["indexed"], st["confirmed"]),
            last_error=redact(st["last_error"]), standby=st["standby"], rpc=_endpoints(st["rpc"]))

    def _list_chains(self) -> chain_pb2.ListChainsResponse:
        chains = self._chains()
        solana = solana_chains_of(self.node.config)
        with self.node.store.connection():
            cursors = {c.chain: c for c in ChainCursor.select()}
            slots = {c.chain: c for c in SolanaCursor.select()} if solana else {}
        out = []
        for name in sorted([*chains, *solana]):
            if name in solana:
                out.append(self._solana_info(name, solana[name], slots.get(name)))
                continue
            cfg = chains[name]
            st = self._status(name)
            cur = cursors.get(name)
            if st is None:
                indexed = cur.block_number if cur else cfg.start_block - 1
                head = cur.head if cur else 0
                confirmed = max(head - cfg.confirm_depth, 0)
                out.append(chain_pb2.ChainInfo(
                    name=name, kind="evm", chain_id=cfg.chain_id, head=head, confirmed_block=confirmed,
                    indexed_block=indexed, lag=max(confirmed - indexed, 0),
                    synced_percent=_synced(cfg.start_block, indexed, confirmed),
                    active_rpc=public_url(cfg.rpc[0]), running=False,
                    rpc=[chain_pb2.RpcEndpoint(url=public_url(u)) for u in cfg.rpc]))
                continue
            out.append(chain_pb2.ChainInfo(
                name=name, kind="evm", chain_id=cfg.chain_id, head=st["head"] or 0,
                confirmed_block=st["confirmed"] or 0, indexed_block=st["indexed"],
                lag=st["lag"] or 0, active_rpc=public_url(st["active_rpc"]), running=True,
                synced_percent=_synced(cfg.start_block, st["indexed"], st["confirmed"]),
                last_error=redact(st["last_error"]), reorgs=st["reorgs"], standby=st["standby"],
                rpc=_endpoints(st["rpc"])))
        return chain_pb2.ListChainsResponse(chains=out)

    @unary("ChainService/ListChains")
    async def ListChains(self, request, context):
        return await self.node.grpc.call(self._list_chains)

    # ---- ListEvents ---------------------------------------------------------------------
    def _list_events(self, req) -> chain_pb2.ListEventsResponse:
        size = req.page_size or DEFAULT_PAGE
        if size > MAX_PAGE:
            raise InvalidArgument(f"page_size must be at most {MAX_PAGE}", field="page_size")
        fields.block_number(req.from_block, "from_block")
        fields.block_number(req.to_block, "to_block")
        if req.to_block and req.from_block > req.to_block:
            raise InvalidArgument("from_block is above to_block", field="from_block")
        where = []
        if req.chain:
            chains = self._chains()
            name = req.chain
            if name not in chains:
                by_id = [n for n, c in chains.items() if str(c.chain_id) == req.chain]
                if not by_id:
                    raise InvalidArgument(f"unknown chain {fields.shown(req.chain)}; configured: "
                                          f"{', '.join(sorted(chains)) or 'none'}",
                                          field="chain")
                name = by_id[0]
            where.append(ChainEvent.chain == name)
        if req.name:
            where.append(ChainEvent.name == req.name)
        if req.order_id:
            where.append(ChainEvent.order_id == fields.order_id(req.order_id, "order_id"))
        if req.from_block:
            where.append(ChainEvent.block_number >= req.from_block)
        if req.to_block:
            where.append(ChainEvent.block_number <= req.to_block)
        digest = _digest(req)
        if req.page_token:
            where.append(ChainEvent.id > decode_token(req.page_token, digest, "ListEvents"))
        query = ChainEvent.select().order_by(ChainEvent.id).limit(size + 1)
        for cond in where:
            query = query.where(cond)
        with self.node.store.connection():
            rows = list(query)
        more = len(rows) > size
        rows = rows[:size]
        events = [chain_pb2.ChainEvent(
            chain=r.chain, block_number=r.block_number, block_hash=r.block_hash,
            tx_hash=r.tx_hash, log_index=r.log_index, address=r.address, name=r.name,
            order_id=r.order_id or "", args_json=r.args) for r in rows]
        token = encode_token(rows[-1].id, digest) if more else ""
        return chain_pb2.ListEventsResponse(events=events, next_page_token=token)

    @unary("ChainService/ListEvents")
    async def ListEvents(self, request, context):
        return await self.node.grpc.call(self._list_events, request)


def _endpoints(health: list[dict]) -> list[chain_pb2.RpcEndpoint]:
    return [chain_pb2.RpcEndpoint(url=public_url(e["url"]), healthy=e["healthy"],
                                  active=e["active"], consecutive_failures=e["failures"],
                                  last_error=redact(e["last_error"]),
                                  retry_in_seconds=e["retry_in"])
            for e in health]


def chain_service(node):
    name = chain_pb2.DESCRIPTOR.services_by_name["ChainService"].full_name
    return (name, chain_pb2_grpc.add_ChainServiceServicer_to_server, ChainServicer(node))
