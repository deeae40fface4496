"""How a runtime server is set up, and the checks that keep it from being exposed.

A server that listens beyond the loopback interface lets anyone who reaches its port
build and run networks, so it refuses to start without a secret there; and it looks
components up with ``Registry(allow_imports=False)`` unless the operator allowed
imports, so that a client can only use the collections the operator installed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .._core._network import DEFAULT_CAPACITY
from ..graph import Registry
from ._client import DEFAULT_QUEUE
from ._start import DEFAULT_PORT as _DEFAULT_PORT
from ._start import is_loopback

__all__ = ("DEFAULT_PORT", "RuntimeConfigError", "RuntimeOptions", "is_loopback")

#: The port fbp-protocol runtimes customarily listen on.
DEFAULT_PORT = _DEFAULT_PORT


class RuntimeConfigError(ValueError):
    """The server's settings are unsafe or invalid; the message says how to fix them."""


@dataclass
class RuntimeOptions:
    """Settings of a :class:`~fbp.protocol.RuntimeServer`.

    Attributes:
        host: the interface to listen on; loopback by default.
        port: the TCP port; 0 picks a free one (read it back from ``server.port``).
        secret: the access token every message must carry; required beyond loopback.
        allow_imports: let graphs name components by import path or graph file path.
        collections: offer only these component collections (None: all installed).
        registry: a registry to use instead of building one (its ``allow_imports``
            then applies); tests pass one with ``extra`` components.
        label: the runtime's human-readable label.
        runtime_id: the runtime's UUID (a new one by default).
        queue_size: each client's send queue capacity, in messages.
        capacity: the default edge capacity of the networks it runs.
        flush_interval: seconds between two deliveries of data events during a run.
        deadlock_interval: the deadlock watchdog's interval.
        max_message: the largest message accepted from a client, in bytes.
        persist: the folder ``network:persist`` writes graphs to, and the runtime
            loads them from when it starts (None: ``network:persist`` is refused).
        allow_setsource: run component code clients send (``component:source``);
            requires a secret.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    secret: str | None = None
    allow_imports: bool = False
    collections: tuple[str, ...] | None = None
    registry: Registry | None = None
    label: str = "fbp-causal runtime (Python asyncio)"
    runtime_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    queue_size: int = DEFAULT_QUEUE
    capacity: int = DEFAULT_CAPACITY
    flush_interval: float = 0.05
    deadlock_interval: float = 0.25
    max_message: int = 4 * 1024 * 1024
    persist: Path | None = None
    allow_setsource: bool = False

    def check(self) -> None:
        """Refuse unsafe or invalid settings.

        Raises:
            RuntimeConfigError: no secret while listening beyond loopback, an empty
                secret, or a size that is not positive.
        """
        if self.secret is not None and not self.secret:
            msg = "the secret is empty; give a non-empty secret, or none on loopback"
            raise RuntimeConfigError(msg)
        if self.allow_setsource and self.secret is None:
            msg = (
                "allowing component:source runs the code clients send: it needs a secret"
                " so that only clients that know it can; set FBP_PROTOCOL_SECRET (or"
                " --secret), or drop --allow-setsource"
            )
            raise RuntimeConfigError(msg)
        if self.secret is None and not is_loopback(self.host):
            shown = self.host or "every interface"
            msg = (
                f"refusing to listen on {shown} without a secret: anyone who can reach"
                " the port could build and run networks on this machine. Pass --secret"
                " (or set FBP_PROTOCOL_SECRET), or listen on 127.0.0.1"
            )
            raise RuntimeConfigError(msg)
        if not 0 <= self.port <= 65535:
            msg = f"port must be between 0 and 65535, got {self.port}"
            raise RuntimeConfigError(msg)
        for name in ("queue_size", "max_message"):
            if getattr(self, name) < 1:
                msg = f"{name} must be >= 1, got {getattr(self, name)}"
                raise RuntimeConfigError(msg)
        if self.capacity < 0:
            msg = f"capacity must be >= 0, got {self.capacity}"
            raise RuntimeConfigError(msg)
        if self.flush_interval <= 0 or self.deadlock_interval <= 0:
            msg = "flush_interval and deadlock_interval must be > 0 seconds"
            raise RuntimeConfigError(msg)

    def make_registry(self) -> Registry:
        """The registry the server looks components up in."""
        if self.registry is not None:
            return self.registry
        return Registry(allow_imports=self.allow_imports)
