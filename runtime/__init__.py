"""Orbital's supervised actor runtime: supervision, registry, config, store, node, gRPC.

Nothing here knows about chains or intents; actor kinds live in :mod:`actors` and plug in
through child specs and config sections.
"""

from ._actor import Actor, ActorContext, ChildExit, Init
from ._backoff import Backoff
from ._clock import Clock, MonotonicClock, Timer
from ._errors import (ActorUnavailable, AlreadyExists, ConfigError, Escalation,
                      FailedPrecondition, InvalidArgument, NotFound, OrbitalError,
                      PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable)
from ._events import Event, EventBus
from ._registry import Registry
from ._spec import ActorInfo, ChildSpec, DiffResult, Restart, Strategy, SupervisorSpec
from ._supervisor import (ApplySpec, DescribeTree, RestartChild, StartChild, StopChild,
                          Supervisor)
from ._tasks import (TASKS_PATH, ListTasks, PauseTask, ResumeTask, RunStarted, RunTask,
                     TaskInfo)

__all__ = [
    "Actor", "ActorContext", "ChildExit", "Init", "Backoff", "Clock", "MonotonicClock",
    "Timer", "ActorUnavailable", "AlreadyExists", "ConfigError", "Escalation",
    "FailedPrecondition", "InvalidArgument", "NotFound", "OrbitalError",
    "PermissionDenied", "ResourceExhausted", "Unauthenticated", "Unavailable", "Event",
    "EventBus", "Registry", "ActorInfo", "ChildSpec", "DiffResult", "Restart", "Strategy",
    "SupervisorSpec", "ApplySpec", "DescribeTree", "RestartChild", "StartChild",
    "StopChild", "Supervisor", "TASKS_PATH", "ListTasks", "PauseTask", "ResumeTask",
    "RunStarted", "RunTask", "TaskInfo",
]
