"""``alerts``: alert rules over the runtime's own metrics, and alerts raised by any actor.

Any actor raises or resolves an alert with ``actors.alerts.raise_alert`` / ``resolve_alert``
(messages to ``actors.ALERTS_PATH``); an alert is keyed by (name, source), raising a
firing one counts up. Rules (``alerts.rules`` in supervisor.yaml) watch samples of the
node's Prometheus registry and fire like Prometheus alerting rules (pending for
``hold_for``, then firing, then resolved). Alerts persist in the store (``alert``,
``alert_transition``) and are served by ``AdminService/ListAlerts``. See docs/alerts.md.

Layout: ``_config`` the section (validated at load), ``_rules`` pure evaluation,
``_models`` the tables, ``_notify`` webhooks, ``_actor`` the actor, ``_admin`` ListAlerts,
``_promql`` the rules as a Prometheus rule file (``orbital alerts export``).
"""

from __future__ import annotations

from actors import ALERTS_PATH
from runtime import ChildSpec
from runtime.config import App

from ._actor import Alerts, Sync
from ._admin import list_alerts
from ._messages import RaiseAlert, ResolveAlert, raise_alert, resolve_alert
from ._config import AlertsConfig, Matcher, RuleConfig, WebhookConfig, parse_duration
from ._models import MIGRATION, Alert, AlertTransition
from ._rules import Change, RuleState, collect, evaluate, source_of
from ._promql import PromRule, prometheus_duration, prometheus_rule_file, promql_expr, to_prometheus

__all__ = ["install", "Alerts", "Sync", "list_alerts", "AlertsConfig",
           "RuleConfig", "WebhookConfig", "Matcher", "parse_duration", "MIGRATION", "Alert",
           "AlertTransition", "Change", "RuleState", "collect", "evaluate", "source_of",
           "RaiseAlert", "ResolveAlert", "raise_alert", "resolve_alert", "PromRule",
           "prometheus_duration", "prometheus_rule_file", "promql_expr", "to_prometheus"]


def install(app: App) -> None:
    app.section("alerts", AlertsConfig)
    app.migration(MIGRATION)
    app.admin("ListAlerts", list_alerts)
    try:  # old transitions and resolved alerts may be pruned by a keeper task
        from actors.keeper import register_prunable
        register_prunable("alert_transition", "at")
        register_prunable("alert", "resolved_at")
    except ImportError:
        pass

    @app.provide("root")
    def alerts(config) -> list[ChildSpec]:
        # Always running: any actor may raise an alert, rules or not.
        return [ChildSpec(ALERTS_PATH, Alerts, config.section("alerts", AlertsConfig))]
