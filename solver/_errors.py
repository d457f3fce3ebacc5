"""The solver's configuration error, in its own module so that every config module (EVM and
Solana) raises the same type without importing each other."""

from __future__ import annotations

__all__ = ["SolverConfigError"]


class SolverConfigError(ValueError):
    """A configuration the solver cannot run with; the message names the key at fault."""
