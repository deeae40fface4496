"""Operating a network as a service: metrics, trace export, and a causal watch.

* :func:`serve_metrics`: a Prometheus endpoint reading a running network's counters
  (the ``metrics`` extra, ``prometheus_client``);
* :func:`export_otlp`: a traced run as OpenTelemetry spans (IPs) with links (parents),
  sent to an OTLP/HTTP collector (the ``otel`` extra);
* :class:`CausalWatch`: compare each window of a long-running network's trace with a
  reference window and name the culprits when a target shifts (the ``causal`` extra).

Importing this package is cheap; each name loads its module, and the module its
optional dependency, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from ._metrics import MetricsServer as MetricsServer
    from ._metrics import NetworkCollector as NetworkCollector
    from ._metrics import serve_metrics as serve_metrics
    from ._otlp import OtlpExportError as OtlpExportError
    from ._otlp import OtlpExportResult as OtlpExportResult
    from ._otlp import export_otlp as export_otlp
    from ._otlp import run_spans as run_spans
    from ._otlp_live import LiveSpans as LiveSpans
    from ._watch import CausalWatch as CausalWatch
    from ._watch import Culprit as Culprit
    from ._watch import WatchEvent as WatchEvent

__all__ = (
    "CausalWatch",
    "Culprit",
    "LiveSpans",
    "MetricsServer",
    "NetworkCollector",
    "OtlpExportError",
    "OtlpExportResult",
    "WatchEvent",
    "export_otlp",
    "run_spans",
    "serve_metrics",
)

_EXPORTS = {
    "MetricsServer": "._metrics",
    "NetworkCollector": "._metrics",
    "serve_metrics": "._metrics",
    "OtlpExportError": "._otlp",
    "OtlpExportResult": "._otlp",
    "export_otlp": "._otlp",
    "run_spans": "._otlp",
    "LiveSpans": "._otlp_live",
    "CausalWatch": "._watch",
    "Culprit": "._watch",
    "WatchEvent": "._watch",
}


__getattr__ = _lazy_attributes(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
