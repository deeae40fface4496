"""net: connectors to the systems around a network (the ``connectors`` extra).

- :class:`RedisSource`, :class:`RedisSink`, :class:`RedisAck`: Redis Streams with a
  consumer group, at-least-once delivery and back-pressure that reaches the broker.
- :class:`HttpSource` (a webhook: each POST body is an IP) and :class:`HttpSink` (each
  IP is a request).

Sources run until the network is stopped (``SIGTERM`` drains it: see
``docs/operations.md``).
"""

from ._http import HttpResponse, HttpSink, HttpSource
from ._redis import RedisAck, RedisSink, RedisSource, StreamMessage

__all__ = (
    "HttpResponse",
    "HttpSink",
    "HttpSource",
    "RedisAck",
    "RedisSink",
    "RedisSource",
    "StreamMessage",
)
