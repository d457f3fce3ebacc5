"""Clients of an Orbital node: the Python client library, the CLI and the reference solver.

They arrive with the intents API (issue "Intents over gRPC"); the operator CLI
(``orbital run|check-config|tree|reload``) lives in :mod:`runtime.cli`.
"""
