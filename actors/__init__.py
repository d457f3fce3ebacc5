"""Actor kinds of Orbital: one package per kind (``actors.book``, ``actors.chain_watcher``...),
each owning its actor, messages, tables, servicer and ``install(app)``; what other kinds may
use of it is in its package's ``__all__``.

This package's own face is the one place for the registry paths of the actors other kinds
talk to (SPEC section 1): kinds send messages by path, never to each other's objects, and
this module imports nothing. Which kinds a node runs, and the groups they sit in, is the
node's wiring (package ``node``).
"""

__all__ = ["BOOK_PATH", "ADMISSION_PATH", "SOLVERS_PATH", "ATTESTER_PATH", "QUOTER_PATH", "KEEPER_PATH",
           "ALERTS_PATH"]

BOOK_PATH = "intents/book"
ADMISSION_PATH = "intents/admission"
SOLVERS_PATH = "intents/solvers"
ATTESTER_PATH = "intents/attester"
QUOTER_PATH = "quoter"
KEEPER_PATH = "keeper"
ALERTS_PATH = "alerts"
