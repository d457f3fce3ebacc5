"""``AdminService/ListAlerts``: firing alerts first (critical first, newest first), then,
with ``include_resolved``, the most recently resolved (``alerts.max_resolved`` of them).

Reads the store, not the actor, so it answers while the actor restarts; but it first asks
the actor a :class:`Sync` (when it runs), so alerts told just before are listed.
"""

from __future__ import annotations

import json


from orbital.v1 import admin_pb2
from actors import ALERTS_PATH
from runtime import ActorUnavailable

from ._actor import Sync
from ._config import AlertsConfig
from ._models import Alert
from runtime.grpc import timestamp as _ts

__all__ = ["list_alerts"]

_RANK = {"critical": 0, "warning": 1, "info": 2}



def _alert(row: Alert) -> admin_pb2.Alert:
    try:
        labels = {str(k): str(v) for k, v in json.loads(row.labels or "{}").items()}
    except (ValueError, AttributeError):
        labels = {}
    return admin_pb2.Alert(name=row.name, severity=row.severity, source=row.source,
                           message=row.message, state=row.state,
                           started_at=_ts(row.started_at), resolved_at=_ts(row.resolved_at),
                           count=row.count, labels=labels)


def list_alerts(node, request: admin_pb2.ListAlertsRequest) -> admin_pb2.ListAlertsResponse:
    try:
        node.registry.ask(ALERTS_PATH, Sync(), timeout=5)
    except ActorUnavailable:
        pass  # not running or busy: the store is still the truth
    cfg: AlertsConfig = node.config.section("alerts", AlertsConfig)
    name = node.config.node.name
    with node.store.connection():
        firing = list(Alert.select().where((Alert.node == name) & (Alert.state == "firing")))
        resolved = []
        if request.include_resolved and cfg.max_resolved:
            resolved = list(Alert.select()
                            .where((Alert.node == name) & (Alert.state == "resolved"))
                            .order_by(Alert.resolved_at.desc(), Alert.id.desc())
                            .limit(cfg.max_resolved))
    firing.sort(key=lambda r: (_RANK.get(r.severity, 3), -r.started_at, r.id))
    return admin_pb2.ListAlertsResponse(alerts=[_alert(r) for r in [*firing, *resolved]])
