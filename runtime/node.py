"""Public entry: the node (:mod:`runtime._node`) and what it lends actors (:mod:`runtime._services`)."""

from ._node import Node, build_tree
from ._services import Services

__all__ = ["Node", "Services", "build_tree"]
