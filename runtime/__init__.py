"""Orbital's supervised actor runtime: supervision, registry, config, store, node, gRPC.

Nothing here knows about chains or intents; actor kinds live in :mod:`actors` and plug in
through child specs and config sections.
"""

from ._actor import Actor, ActorContext, ChildExit, Init, Tick
from ._backoff import Backoff
from ._clock import Clock, MonotonicClock, Timer
from ._errors import (ActorUnavailable, AlreadyExists, ConfigError, DeadlineExceeded, Escalation,
                      FailedPrecondition, InvalidArgument, LeaseLost, NotFound, OrbitalError,
                      PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable,
                      Unimplemented)
from ._events import Event, EventBus
from ._lease import SingletonLease, standby_interval
from ._logging import JsonFormatter, public_url, redact, register_secret, register_url, setup_logging
from ._metrics import Metrics
from ._ratelimit import RateLimiter
from ._registry import Registry
from ._spec import ActorInfo, ChildSpec, DiffResult, Restart, Strategy, SupervisorSpec
from ._supervisor import (ApplySpec, DescribeTree, RestartChild, StartChild, StopChild,
                          Supervisor)

__all__ = [
    "DeadlineExceeded", "Unimplemented",
    "Actor", "ActorContext", "ChildExit", "Init", "Tick", "Backoff", "Clock", "MonotonicClock",
    "Timer", "ActorUnavailable", "AlreadyExists", "ConfigError", "Escalation",
    "FailedPrecondition", "InvalidArgument", "LeaseLost", "NotFound", "OrbitalError",
    "PermissionDenied", "ResourceExhausted", "Unauthenticated", "Unavailable", "Event",
    "EventBus", "Metrics", "RateLimiter", "Registry", "ActorInfo", "ChildSpec", "DiffResult", "Restart", "Strategy",
    "SupervisorSpec", "ApplySpec", "DescribeTree", "RestartChild", "StartChild",
    "StopChild", "Supervisor", "JsonFormatter", "redact", "register_secret", "register_url",
    "public_url",
    "setup_logging", "SingletonLease", "standby_interval",
]
