import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActorInfo(_message.Message):
    __slots__ = ("path", "kind", "state", "restarts", "started_at", "last_error", "dynamic", "mailbox_depth")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    path: str
    kind: str
    state: str
    restarts: int
    started_at: _timestamp_pb2.Timestamp
    last_error: str
    dynamic: bool
    mailbox_depth: int
    def __init__(self, path: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[str] = ..., restarts: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., dynamic: _Optional[bool] = ..., mailbox_depth: _Optional[int] = ...) -> None: ...

class GetTreeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTreeResponse(_message.Message):
    __slots__ = ("node", "actors")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    node: str
    actors: _containers.RepeatedCompositeFieldContainer[ActorInfo]
    def __init__(self, node: _Optional[str] = ..., actors: _Optional[_Iterable[_Union[ActorInfo, _Mapping]]] = ...) -> None: ...

class ReloadConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadConfigResponse(_message.Message):
    __slots__ = ("started", "stopped", "restarted", "unchanged", "file")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    RESTARTED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    started: _containers.RepeatedScalarFieldContainer[str]
    stopped: _containers.RepeatedScalarFieldContainer[str]
    restarted: _containers.RepeatedScalarFieldContainer[str]
    unchanged: int
    file: str
    def __init__(self, started: _Optional[_Iterable[str]] = ..., stopped: _Optional[_Iterable[str]] = ..., restarted: _Optional[_Iterable[str]] = ..., unchanged: _Optional[int] = ..., file: _Optional[str] = ...) -> None: ...

class RestartActorRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class RestartActorResponse(_message.Message):
    __slots__ = ("actor",)
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    actor: ActorInfo
    def __init__(self, actor: _Optional[_Union[ActorInfo, _Mapping]] = ...) -> None: ...

class StopActorRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class StopActorResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...
