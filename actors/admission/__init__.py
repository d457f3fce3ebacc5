"""``intents/admission``: an order is acknowledged, and auctioned, only if its origin chain
would let it be opened now.

``openFor`` pulls ``inputAmount`` of the input token from the user into the settler and
burns the order's nonce; it reverts when the balance or the allowance to the settler is
short, the nonce is already used (``invalidateNonce``, or an order opened with it), or the
user is a contract wallet that no longer accepts the order's signature (ERC-1271: the
book's checks ask the wallet again, ``SIGNATURE``).
Such an order, auctioned, costs the winner a failed open and re-auctions until it expires,
and its user never learns why. So the intent service checks before acknowledging
(FAILED_PRECONDITION with ``google.rpc.PreconditionFailure`` details naming the check,
the numbers and the fix), and the book checks again before each auction round (an order
that can no longer be opened is not auctioned, and its history says why). See
docs/intents.md "Admission".

Private modules: :mod:`._config` (the ``admission:`` section), :mod:`._rules` (the pure
decision), :mod:`._messages`, :mod:`._actor` (the chain reads, batched and cached per
block).
"""

from __future__ import annotations

from chains.evm.config import chains_of

from actors import ADMISSION_PATH
from runtime import ChildSpec
from runtime.config import App

from ._actor import Admission, AdmissionSpec
from ._config import AdmissionConfig
from ._messages import CheckOrder, OrderChecked
from ._rules import ALLOWANCE, BALANCE, NONCE, SIGNATURE, Reading, Verdict, Violation, decide

__all__ = ["install", "ADMISSION_PATH", "Admission", "AdmissionSpec", "AdmissionConfig",
           "CheckOrder", "OrderChecked", "Reading", "Verdict", "Violation", "decide",
           "BALANCE", "ALLOWANCE", "NONCE", "SIGNATURE", "admission_config"]


def admission_config(config) -> AdmissionConfig:
    """The ``admission`` section; off on a node without this kind (an app of a few kinds,
    as tests build), where no actor could answer."""
    if "admission" not in config.sections:
        return AdmissionConfig(enabled=False)
    return config.section("admission", AdmissionConfig)


def install(app: App) -> None:
    app.section("admission", AdmissionConfig)

    @app.provide("intents")
    def admission(config) -> list[ChildSpec]:
        section = admission_config(config)
        if not section.enabled:
            return []
        chains = tuple(sorted(chains_of(config).items()))
        return [ChildSpec("admission", Admission, AdmissionSpec(section, chains))]
