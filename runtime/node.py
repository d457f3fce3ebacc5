"""Public entry: the node and its services (see :mod:`runtime._node`)."""

from ._node import Node, Services

__all__ = ["Node", "Services"]
