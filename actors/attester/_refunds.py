"""One ``refund(orderId)`` through the attester's TxSender (keeper task ``refund_expired``).

``refund`` is open to anyone once fillDeadline has passed; the attester sends it because
it already has a sender on every origin chain. Idempotence comes from ``evm_tx``: the
transactions of one intent's refunds share ``reference = refund:<intent id>``, so a
refund pending or mined is not sent again, and one that reverted ``max_retries`` times is
left alone (logged) instead of burning gas on every keeper run.
"""

from __future__ import annotations

import logging

from chains.evm import RpcError
from chains.evm.txsend import TX_MINED, TX_PENDING, TX_REVERTED, TxSender

from ._calls import refund_calldata, revert_reason
from ._models import refund_reference

__all__ = ["send_refund", "REFUND_PURPOSE"]

log = logging.getLogger("orbital.attester")

REFUND_PURPOSE = "refund"     # evm_tx.purpose


def send_refund(sender: TxSender, settler: str, intent_id: str, max_retries: int) -> str:
    """``sent`` | ``refused`` (the node refused the transaction) | ``skip``."""
    ref = refund_reference(intent_id)
    prior = sender.find(ref)
    if any(r.status in (TX_PENDING, TX_MINED) for r in prior):
        return "skip"
    reverted = sum(r.status == TX_REVERTED for r in prior)
    if reverted >= max_retries:
        log.error("refund not sent again: it reverted %d times", reverted,
                  extra={"chain": sender.chain, "intent": intent_id})
        return "skip"
    try:       # gas: the sender's estimate x gas_margin (a revert raises, nothing recorded)
        row = sender.submit(settler, refund_calldata(intent_id), reference=ref,
                            purpose=REFUND_PURPOSE)
    except RpcError as exc:
        log.warning("refund would revert: %s", revert_reason(exc),
                    extra={"chain": sender.chain, "intent": intent_id})
        return "skip"
    log.info("refund sent", extra={"chain": sender.chain, "intent": intent_id,
                                   "tx": row.tx_hash, "status": row.status})
    return "sent" if row.status == TX_PENDING else "refused"
