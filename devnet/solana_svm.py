"""One LiteSVM instance behind a lock, with what an RPC node adds on top: slots, block height,
recent blockhashes, and an in-memory index of processed transactions by signature and account.

Blocks: every processed transaction (and, optionally, a timer tick) closes a block: the slot is
warped forward by one and a fresh blockhash issued. A blockhash stays valid for 150 blocks, like on
a real cluster, so clients that fetched one before other transactions landed are not rejected.
LiteSVM's own blockhash check is switched off (it only knows the latest hash); this module checks
against the recent ones instead.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_associated_token_account,
    initialize_mint2,
    mint_to,
)
from spl.token.models import InitializeMint2Params, MintToParams

from devnet.solana_keys import (
    SOL_PER_ACCOUNT,
    SOLANA_ACCOUNTS,
    USDC_DECIMALS,
    USDC_PER_ACCOUNT,
    faucet_keypair,
    mint_keypair,
)

__all__ = ["BLOCKHASH_VALIDITY", "COMPUTE_BUDGET_PROGRAM", "MAX_FEE_SLOTS", "Fault", "SlotFees",
           "SolanaChain", "TxRecord", "compute_unit_price", "writable_keys"]

BLOCKHASH_VALIDITY = 150  # blocks, as on a real cluster
MAX_RECORDS = 50_000  # processed transactions kept for getTransaction
MAX_PER_ADDRESS = 50_000  # signatures kept per account for getSignaturesForAddress
MINT_SIZE = 82
MAX_FEE_SLOTS = 150  # slots kept for getRecentPrioritizationFees, as a node's fee cache
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
_SET_COMPUTE_UNIT_PRICE = 3  # ComputeBudget instruction tag; a u64 of micro-lamports per CU follows


class Fault(Exception):
    """A JSON-RPC error to return to the caller (Solana's codes and messages)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass
class TxRecord:
    signature: str
    slot: int
    block_time: int
    tx: VersionedTransaction
    err: Any  # None or the Solana JSON form of the TransactionError
    logs: list[str]
    fee: int
    units: int
    pre_balances: list[int]
    post_balances: list[int]
    keys: list[str] = field(default_factory=list)
    # Token accounts among ``keys`` before and after, as a node's meta has them:
    # (accountIndex, mint, owner, raw amount).
    pre_tokens: list[tuple[int, str, str, int]] = field(default_factory=list)
    post_tokens: list[tuple[int, str, str, int]] = field(default_factory=list)


@dataclass
class SlotFees:
    """The prioritization fees of one slot, as a node's fee cache keeps them: the lowest
    compute-unit price (micro-lamports per CU) among the successful transactions of the slot,
    and per account the lowest price among those that write-locked it."""

    block_min: int | None = None
    writable: dict[str, int] = field(default_factory=dict)

    def add(self, price: int, writable: list[str]) -> None:
        self.block_min = price if self.block_min is None else min(self.block_min, price)
        for key in writable:
            self.writable[key] = min(self.writable.get(key, price), price)

    def fee(self, accounts: list[str]) -> int:
        """What the RPC answers for this slot: the block's minimum, raised to the highest
        per-account minimum among ``accounts`` (the price that landed a transaction locking
        all of them as writable); 0 for a slot without transactions."""
        out = self.block_min or 0
        for key in accounts:
            if key in self.writable:
                out = max(out, self.writable[key])
        return out


def compute_unit_price(tx: VersionedTransaction) -> int:
    """The transaction's ComputeBudget SetComputeUnitPrice (micro-lamports per CU), 0 without one."""
    message = tx.message
    keys = message.account_keys
    for ix in message.instructions:
        if str(keys[ix.program_id_index]) == COMPUTE_BUDGET_PROGRAM:
            data = bytes(ix.data)
            if len(data) >= 9 and data[0] == _SET_COMPUTE_UNIT_PRICE:
                return int.from_bytes(data[1:9], "little")
    return 0


def writable_keys(tx: VersionedTransaction) -> list[str]:
    """The static account keys the message write-locks, read from its header: the signed ones
    but the read-only signed tail, and the unsigned ones but the read-only unsigned tail."""
    message = tx.message
    header = message.header
    keys = [str(k) for k in message.account_keys]
    signed = header.num_required_signatures
    return [k for i, k in enumerate(keys)
            if (i < signed - header.num_readonly_signed_accounts)
            or (signed <= i < len(keys) - header.num_readonly_unsigned_accounts)]


def error_json(failed: FailedTransactionMetadata) -> Any:
    """The TransactionError in the RPC's JSON form, e.g. {"InstructionError": [0, {"Custom": 1}]}."""
    return json.loads(failed.to_json())["err"]


_MESSAGES = {
    "BlockhashNotFound": "Blockhash not found",
    "AlreadyProcessed": "This transaction has already been processed",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "SignatureFailure": "Transaction did not pass signature verification",
}


def describe(err: Any) -> str:
    """Human form of a JSON TransactionError, as in the RPC's 'Transaction simulation failed: ...'."""
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            return f"Error processing Instruction {index}: custom program error: {inner['Custom']:#x}"
        return f"Error processing Instruction {index}: {inner}"
    if isinstance(err, str):
        return _MESSAGES.get(err, err)
    return json.dumps(err)


class SolanaChain:
    def __init__(self, *, seed: bool = True) -> None:
        self.lock = threading.RLock()
        self.svm = LiteSVM().with_blockhash_check(False)
        self.slot = 1
        self.block_height = 1
        self.svm.warp_to_slot(self.slot)
        self.recent: OrderedDict[str, int] = OrderedDict()  # blockhash -> last valid block height
        self.recent[str(self.svm.latest_blockhash())] = self.block_height + BLOCKHASH_VALIDITY
        self.records: OrderedDict[str, TxRecord] = OrderedDict()
        self.tx_count = 0  # transactions landed since start (failed ones included)
        self.by_address: dict[str, deque[str]] = {}
        self.fees: OrderedDict[int, SlotFees] = OrderedDict()  # closed slots, oldest first
        self.faucet = faucet_keypair()
        self.svm.set_account(self.faucet.pubkey(), Account(10**18, b"", SYSTEM_PROGRAM_ID, False, 0))
        if seed:
            self._seed()

    # -- blocks ---------------------------------------------------------------------------------
    def latest_blockhash(self) -> tuple[str, int]:
        with self.lock:
            return str(self.svm.latest_blockhash()), self.block_height + BLOCKHASH_VALIDITY

    def blockhash_valid(self, blockhash: str) -> bool:
        with self.lock:
            return self.recent.get(blockhash, -1) >= self.block_height

    def new_block(self) -> None:
        with self.lock:
            self.fees.setdefault(self.slot, SlotFees())  # the slot closes: now in the fee cache
            while len(self.fees) > MAX_FEE_SLOTS:
                self.fees.popitem(last=False)
            self.slot += 1
            self.block_height += 1
            self.svm.warp_to_slot(self.slot)
            self.svm.expire_blockhash()
            self.recent[str(self.svm.latest_blockhash())] = self.block_height + BLOCKHASH_VALIDITY
            while self.recent and next(iter(self.recent.values())) < self.block_height:
                self.recent.popitem(last=False)

    # -- transactions ---------------------------------------------------------------------------
    def _check(self, tx: VersionedTransaction, sig_verify: bool, check_blockhash: bool) -> None:
        """Preflight checks a real node makes before simulating: blockhash, signatures, duplicates."""
        if check_blockhash and not self.blockhash_valid(str(tx.message.recent_blockhash)):
            raise Fault(-32002, "Transaction simulation failed: Blockhash not found",
                        _sim_data("BlockhashNotFound", [], 0))
        if sig_verify and not all(tx.verify_with_results()):
            raise Fault(-32003, "Transaction signature verification failure")
        if str(tx.signatures[0]) in self.records:
            raise Fault(-32002, "Transaction simulation failed: This transaction has already been processed",
                        _sim_data("AlreadyProcessed", [], 0))

    def simulate(self, tx: VersionedTransaction, *, sig_verify: bool, replace_blockhash: bool) -> dict[str, Any]:
        with self.lock:
            if sig_verify and not all(tx.verify_with_results()):
                return _sim_data("SignatureFailure", [], 0)
            if not replace_blockhash and not self.blockhash_valid(str(tx.message.recent_blockhash)):
                return _sim_data("BlockhashNotFound", [], 0)
            self.svm.with_sigverify(False)
            try:
                result = self.svm.simulate_transaction(tx)
            finally:
                self.svm.with_sigverify(True)
            if isinstance(result, FailedTransactionMetadata):
                meta = result.meta()
                data = _sim_data(error_json(result), list(meta.logs()), meta.compute_units_consumed())
            else:
                meta = result.meta()
                data = _sim_data(None, list(meta.logs()), meta.compute_units_consumed())
            if replace_blockhash:
                blockhash, last_valid = self.latest_blockhash()
                data["replacementBlockhash"] = {"blockhash": blockhash, "lastValidBlockHeight": last_valid}
            return data

    def send(self, tx: VersionedTransaction, *, skip_preflight: bool = False) -> str:
        """Process ``tx``; return its signature. Preflight failures raise Fault (nothing changes);
        with ``skip_preflight`` a failing transaction lands with its error, like on a cluster."""
        signature = str(tx.signatures[0])
        with self.lock:
            if not skip_preflight:
                self._check(tx, sig_verify=True, check_blockhash=True)
                sim = self.simulate(tx, sig_verify=False, replace_blockhash=False)
                if sim["err"] is not None:
                    raise Fault(-32002, f"Transaction simulation failed: {describe(sim['err'])}", sim)
            elif not self.blockhash_valid(str(tx.message.recent_blockhash)) or signature in self.records:
                return signature  # dropped by the cluster: never lands, status stays null
            keys = [str(k) for k in tx.message.account_keys]
            pre = [self.svm.get_balance(Pubkey.from_string(k)) or 0 for k in keys]
            pre_tokens = self._token_balances(keys)
            result = self.svm.send_transaction(tx)
            if self.svm.get_transaction(tx.signatures[0]) is None:
                return signature  # rejected before execution (e.g. bad signature): dropped
            if isinstance(result, FailedTransactionMetadata):
                meta, error = result.meta(), error_json(result)
            else:
                meta, error = result, None
            post = [self.svm.get_balance(Pubkey.from_string(k)) or 0 for k in keys]
            record = TxRecord(signature, self.slot, int(time.time()), tx, error,
                              list(meta.logs()), meta.fee(), meta.compute_units_consumed(), pre, post, keys,
                              pre_tokens, self._token_balances(keys))
            self._index(record)
            if error is None:
                self.fees.setdefault(self.slot, SlotFees()).add(compute_unit_price(tx), writable_keys(tx))
            self.new_block()
            return signature

    def _token_balances(self, keys: list[str]) -> list[tuple[int, str, str, int]]:
        """SPL token accounts among ``keys``: (index, mint, owner, amount), for the meta's
        pre/postTokenBalances."""
        out = []
        for index, key in enumerate(keys):
            acct = self.svm.get_account(Pubkey.from_string(key))
            if acct is not None and acct.owner == TOKEN_PROGRAM_ID and len(acct.data) == 165:
                data = bytes(acct.data)
                out.append((index, str(Pubkey(data[0:32])), str(Pubkey(data[32:64])),
                            int.from_bytes(data[64:72], "little")))
        return out

    def _index(self, record: TxRecord) -> None:
        self.tx_count += 1
        self.records[record.signature] = record
        while len(self.records) > MAX_RECORDS:
            self.records.popitem(last=False)
        for key in dict.fromkeys(record.keys):
            self.by_address.setdefault(key, deque(maxlen=MAX_PER_ADDRESS)).appendleft(record.signature)

    def send_instructions(self, instructions: list, payer: Keypair, signers: list[Keypair]) -> str:
        with self.lock:
            message = Message.new_with_blockhash(instructions, payer.pubkey(), self.svm.latest_blockhash())
            tx = VersionedTransaction.from_legacy(Transaction([payer, *signers], message, self.svm.latest_blockhash()))
            return self.send(tx)

    def airdrop(self, to: Pubkey, lamports: int) -> str:
        """A transfer from the devnet faucet: an ordinary transaction, indexed like any other."""
        return self.send_instructions([transfer(TransferParams(from_pubkey=self.faucet.pubkey(), to_pubkey=to,
                                                               lamports=lamports))], self.faucet, [])

    def _seed(self) -> None:
        """The deterministic start state: SOL for every account, the USDC mint, funded ATAs."""
        treasury = SOLANA_ACCOUNTS[0].keypair
        mint = mint_keypair()
        for acct in SOLANA_ACCOUNTS:
            self.airdrop(acct.pubkey, SOL_PER_ACCOUNT)
        rent = self.svm.minimum_balance_for_rent_exemption(MINT_SIZE)
        self.send_instructions([
            create_account(CreateAccountParams(from_pubkey=treasury.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                               space=MINT_SIZE, owner=TOKEN_PROGRAM_ID)),
            initialize_mint2(InitializeMint2Params(decimals=USDC_DECIMALS, program_id=TOKEN_PROGRAM_ID,
                                                   mint=mint.pubkey(), mint_authority=treasury.pubkey())),
        ], treasury, [mint])
        for acct in SOLANA_ACCOUNTS:
            self.send_instructions([
                create_associated_token_account(treasury.pubkey(), acct.pubkey, mint.pubkey()),
                mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(), dest=acct.usdc_account,
                                     mint_authority=treasury.pubkey(), amount=USDC_PER_ACCOUNT)),
            ], treasury, [])

    # -- reads ----------------------------------------------------------------------------------
    def account(self, pubkey: Pubkey) -> Account | None:
        with self.lock:
            acct = self.svm.get_account(pubkey)
        return acct if acct is not None and (acct.lamports > 0 or acct.data or acct.executable) else None

    def prioritization_fees(self, accounts: list[str]) -> list[tuple[int, int]]:
        """(slot, fee) for each of the last closed slots (at most 150), oldest first."""
        with self.lock:
            return [(slot, fees.fee(accounts)) for slot, fees in self.fees.items()]

    def signatures_for(self, address: str, limit: int, before: str | None, until: str | None) -> list[TxRecord]:
        with self.lock:
            sigs = list(self.by_address.get(address, ()))
            out: list[TxRecord] = []
            started = before is None
            for sig in sigs:
                if not started:
                    started = sig == before
                    continue
                if sig == until:
                    break
                record = self.records.get(sig)
                if record is not None:
                    out.append(record)
                if len(out) >= limit:
                    break
            return out


def _sim_data(err: Any, logs: list[str], units: int) -> dict[str, Any]:
    return {"err": err, "logs": logs, "accounts": None, "unitsConsumed": units, "returnData": None,
            "innerInstructions": None, "replacementBlockhash": None}
