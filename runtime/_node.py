"""The node: config -> store -> tree -> gRPC and metrics, plus reload and ordered shutdown.

Startup order: validate config, open the store, start the gRPC server NOT_SERVING, start
the tree (the store actor migrates first), then flip health to SERVING. Shutdown reverses
it: NOT_SERVING, streams end within the grace period, the tree stops children in reverse
order, the store closes. A root escalation stops the node with exit code 1.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
import threading
from dataclasses import replace

import pykka

from ._actor import ActorContext, Init
from ._clock import Clock, MonotonicClock
from ._errors import ConfigError, Unavailable
from ._events import Event, EventBus
from ._logging import register_secret
from ._metrics import Metrics
from ._registry import Registry
from ._services import Services
from ._spec import ActorInfo, ChildSpec, DiffResult, SupervisorSpec
from ._supervisor import ApplySpec, DescribeTree, RestartChild, StopChild, Supervisor
from .config import App, Config, NodeConfig, load_config
from .grpc import GrpcServer, MethodLimit, ServerTls
from .store import NodeLock, Store, StoreActor, StoreSettings, lock_single_node, redact_url

__all__ = ["Node", "Services", "build_tree"]

log = logging.getLogger("orbital.node")


class Node:
    def __init__(self, config_path: str, app: App, *, clock: Clock | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.app = app
        self.env = env
        self.clock = clock or MonotonicClock()
        self.registry = Registry()
        self.events = EventBus()
        self.metrics = Metrics()
        self.exit_code = 0
        self.root: pykka.ActorRef | None = None
        self.grpc: GrpcServer | None = None
        self.store: Store | None = None
        self.grpc_port = 0      # bound ports, once start() has bound them
        self.admin_port = 0     # AdminService's own port (node.admin_listen), else 0
        self.metrics_port = 0
        self.admin_token = ""
        self._done = threading.Event()
        self._stopping = threading.Lock()
        self._reload_lock = threading.Lock()
        self._reload_requested = threading.Event()
        self.config: Config = load_config(config_path, app, env)
        # This process's identity (node.name is the configured node's): who holds leases.
        self.instance = f"{self.config.node.name}-{secrets.token_hex(3)}"
        self.lock: NodeLock | None = None   # held on a SQLite database for the node's life

    # ---- start ----------------------------------------------------------------------
    def start(self) -> Node:
        cfg = self.config
        register_secret(cfg.node.admin_token)
        register_secret(_password(_database_url(cfg)))
        os.makedirs(cfg.node.state_dir, exist_ok=True)
        self.admin_token = cfg.node.admin_token or _admin_token_file(cfg.node.state_dir)
        register_secret(self.admin_token)
        self.lock = lock_single_node(_database_url(cfg), self.instance,
                                     config_file=self.config_path)
        self.store = Store(_database_url(cfg), state_dir=cfg.node.state_dir,
                           pool_size=cfg.database.pool_size, node=cfg.node.name,
                           instance=self.instance, migrations=self.app.migrations)
        self.events.subscribe(self.metrics.on_event)
        self.events.subscribe(_log_event)
        self.metrics.watch_mailboxes(self.registry.mailbox_depths)
        from ._admin import ADMIN_SERVICE, admin_service
        services = [admin_service(self), *(factory(self) for factory in self.app.services)]
        tls = cfg.node.tls
        self.grpc = GrpcServer(cfg.node.grpc_listen, services,
                               tls=None if tls is None else ServerTls.from_files(
                                   tls.cert, tls.key, tls.ca, tls.client_ca),
                               admin_listen=cfg.node.admin_listen,
                               admin_services=[ADMIN_SERVICE],
                               max_message_bytes=cfg.node.max_message_bytes,
                               max_concurrent_streams=cfg.node.max_concurrent_streams,
                               pools=cfg.node.rpc_pools, routes=cfg.node.rpc_routes,
                               limits={k: MethodLimit(v.concurrent, v.wait)
                                       for k, v in cfg.node.rpc_limits.items()})
        self.grpc_port = self.grpc.start()
        self.admin_port = self.grpc.admin_port
        self.metrics.cache_for(cfg.node.metrics_cache, self.clock.now)
        self.metrics_port = self.metrics.serve(cfg.node.metrics_listen)
        if not self._wait_for_database():
            return self   # stopped while waiting: nothing was started
        ctx = ActorContext(path="", registry=self.registry, clock=self.clock,
                           events=self.events, on_exit=self._root_exited,
                           observe=self.metrics.observe,
                           services=Services(self.store, self.metrics, cfg.node.name,
                                             cfg.node.state_dir, self.grpc, self.instance,
                                             cfg.node.lease_ttl))
        try:
            self.root = Supervisor.start(ctx, self.tree(cfg))
            self.root.ask(Init())
        except Exception:
            self.grpc.stop(0)
            self.metrics.stop()
            self._release_lock()
            raise
        # Everything built so far (modules, config, the tree) lives as long as the node:
        # move it out of the collector's reach, so a full collection scans only what the
        # actors create while serving (it was ~100k objects re-scanned per full pass).
        gc.collect()
        gc.freeze()
        self.grpc.set_serving(True)
        self.metrics.up.set(1)
        self.metrics.gauge("orbital_node_info", "1, labelled with the configured node name "
                           "and this process's instance id", ("node", "instance")
                           ).labels(cfg.node.name, self.instance).set(1)
        log.info("node started", extra={"node": cfg.node.name, "instance": self.instance,
                                        "grpc": cfg.node.grpc_listen,
                                        "grpc_port": self.grpc_port,
                                        "metrics": cfg.node.metrics_listen,
                                        "database": self.store.url})
        return self

    def tree(self, cfg: Config) -> SupervisorSpec:
        return build_tree(self.app, cfg)

    def _wait_for_database(self) -> bool:
        """A node started while its database is down waits for it, up and NOT_SERVING
        (health says so; every call that needs an actor answers UNAVAILABLE: none is
        registered yet), instead of failing its start and exiting. Polled with a backoff
        from 0.1 s to 2 s; True once the database answers, False if the node is stopped
        meanwhile (SIGTERM)."""
        assert self.store is not None, "the store is opened before the tree"
        delay, waited = 0.1, False
        while True:
            try:
                self.store.ping()
            except Unavailable as exc:
                if not waited:
                    log.warning("database unavailable at start: waiting for it",
                                extra={"database": self.store.url, "error": str(exc)})
                waited = True
            else:
                if waited:
                    log.info("database available: starting", extra={"database": self.store.url})
                return True
            if self._done.wait(delay) or self._stopping.locked():
                return False
            delay = min(delay * 2, 2.0)

    # ---- operations -----------------------------------------------------------------
    def reload(self) -> DiffResult:
        """Validate the config file again and apply it as a diff; refused -> untouched."""
        with self._reload_lock:
            try:
                new = load_config(self.config_path, self.app, self.env)
                _check_restart_only(self.config, new)
            except ConfigError:
                self.metrics.reloads.labels("refused").inc()
                raise
            result: DiffResult = self._root().ask(ApplySpec(self.tree(new)), block=True)
            self.config = new
            self.metrics.cache_for(new.node.metrics_cache)
            if new.node.admin_token and new.node.admin_token != self.admin_token:
                # rotated: the old token stops working with this reload (a node on the
                # generated token file keeps it: that file is read at start only)
                self.admin_token = new.node.admin_token
                log.info("admin token rotated by the reload")
            self.metrics.reloads.labels("applied").inc()
            log.info("config reloaded", extra={"file": self.config_path,
                                               "started": result.started,
                                               "stopped": result.stopped,
                                               "restarted": result.restarted,
                                               "unchanged": result.unchanged})
            return result

    def describe(self) -> list[ActorInfo]:
        root = ActorInfo("root", "supervisor", "running", 0, 0, "")
        return [root, *self._root().ask(DescribeTree(), block=True)]

    def restart_actor(self, path: str) -> str:
        return self._root().ask(RestartChild(path), block=True)

    def stop_actor(self, path: str) -> str:
        return self._root().ask(StopChild(path), block=True)

    def _root(self) -> pykka.ActorRef:
        if self.root is None or not self.root.is_alive():
            raise Unavailable("the node is not running (starting or shutting down)")
        return self.root

    # ---- stop -----------------------------------------------------------------------
    def shutdown(self, code: int | None = None) -> None:
        if not self._stopping.acquire(blocking=False):
            return
        if code is not None:
            self.exit_code = code
        log.info("node stopping", extra={"exit_code": self.exit_code})
        self.metrics.up.set(0)
        try:
            if self.grpc is not None:
                self.grpc.set_serving(False)
                self.grpc.stop(self.config.node.shutdown_timeout / 2)
            if self.root is not None and self.root.is_alive():
                try:
                    self.root.stop(block=True, timeout=self.config.node.shutdown_timeout * 4)
                except pykka.Timeout:
                    log.error("tree did not stop in time; exiting anyway")
        finally:
            if self.store is not None:
                self._unregister()
                self.store.close()
            self._release_lock()
            self.metrics.stop()
            log.info("node stopped", extra={"exit_code": self.exit_code})
            self._done.set()

    def _unregister(self) -> None:
        """Leave the node registry (the tree, whose store actor kept the row fresh, has
        stopped). A database that is down keeps the row; it goes stale and unlisted."""
        assert self.store is not None
        try:
            self.store.unregister_node()
        except Exception as exc:  # noqa: BLE001 - shutdown goes on; the row just goes stale
            log.warning("could not leave the node registry", extra={"error": repr(exc)})

    def _release_lock(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def _root_exited(self, reason: BaseException | None) -> None:
        if isinstance(reason, BaseException):
            log.critical("root supervisor gave up: node stopping with exit code 1",
                         extra={"reason": repr(reason)})
            self.exit_code = 1
            threading.Thread(target=self.shutdown, name="orbital-shutdown", daemon=True).start()

    # ---- main loop ------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: self._reload_requested.set())
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(
            target=self.shutdown, name="orbital-shutdown", daemon=True).start())
        signal.signal(signal.SIGINT, lambda *_: threading.Thread(
            target=self.shutdown, name="orbital-shutdown", daemon=True).start())

    def request_reload(self) -> None:
        self._reload_requested.set()

    def run_forever(self) -> int:
        """Serve until stopped; SIGHUP reloads happen here, on the main thread."""
        while not self._done.wait(0.2):
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                try:
                    self.reload()
                except ConfigError as exc:
                    log.error("reload refused; the running tree is unchanged",
                              extra={"reason": str(exc)})
                except Exception:
                    log.exception("reload failed")
        return self.exit_code


def build_tree(app: App, cfg: Config) -> SupervisorSpec:
    """The root's spec: ``store`` first (it migrates before anyone uses the database), then
    the groups and services of SPEC section 1 as the app provides them."""
    spec = app.tree(cfg)
    store = ChildSpec("store", StoreActor, StoreSettings(redact_url(_database_url(cfg)),
                                                         cfg.node.heartbeat_interval,
                                                         cfg.node.advertise or ""))
    return replace(spec, children=(store, *spec.children))


def _database_url(cfg: Config) -> str:
    url = cfg.database.url
    assert url is not None, "load_config sets database.url ($DATABASE_URL or the default)"
    return url


def _check_restart_only(old: Config, new: Config) -> None:
    for key in NodeConfig.RESTART_ONLY:
        if getattr(old.node, key) != getattr(new.node, key):
            raise ConfigError(new.file, None, f"node.{key}",
                              "cannot change while running; restart the node to apply it")
    if old.database != new.database:
        raise ConfigError(new.file, None, "database",
                          "cannot change while running; restart the node to apply it")


def _admin_token_file(state_dir: str) -> str:
    path = os.path.join(state_dir, "admin-token")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        with open(path) as fh:
            token = fh.read().strip()
        if len(token) >= 16:
            return token
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    log.info("admin token generated", extra={"file": path})
    return token


def _password(url: str | None) -> str | None:
    from urllib.parse import urlparse
    return urlparse(url).password if url else None


def _log_event(event: Event) -> None:
    if event.kind in ("restarted", "abandoned", "escalated"):
        level = logging.WARNING if event.kind == "restarted" else logging.ERROR
        log.log(level, f"actor {event.kind}", extra={"path": event.path, **event.data})
