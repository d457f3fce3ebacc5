"""Registry paths of the actors other kinds talk to (SPEC section 1), in one place.

Kinds send messages by path, never by import of each other's actors; this module is the
only thing they share for that, so it imports nothing.
"""

__all__ = ["BOOK_PATH", "SOLVERS_PATH", "ATTESTER_PATH", "QUOTER_PATH"]

BOOK_PATH = "intents/book"
SOLVERS_PATH = "intents/solvers"
ATTESTER_PATH = "intents/attester"
QUOTER_PATH = "quoter"
