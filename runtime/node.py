"""Public entry: the node and its services (see :mod:`runtime._node`)."""

from ._node import Node, Services, build_tree

__all__ = ["Node", "Services", "build_tree"]
