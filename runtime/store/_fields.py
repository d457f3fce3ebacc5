"""Column types shared by every model."""

from __future__ import annotations

import peewee

__all__ = ["UInt256Field", "UINT256_MAX"]

UINT256_MAX = 2**256 - 1


class UInt256Field(peewee.Field):
    """An unsigned 256-bit integer, stored exactly (see ``UINT256_TYPES``)."""

    field_type = "UINT256"

    def db_value(self, value):
        if value is None:
            return None
        value = int(value)
        if not 0 <= value <= UINT256_MAX:
            raise ValueError(f"{self.name}: {value} is outside uint256")
        return str(value)

    def python_value(self, value):
        return None if value is None else int(value)
