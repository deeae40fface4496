"""Redis Streams: a consumer-group source, a sink, and acknowledgements.

Delivery is **at least once**. :class:`RedisSource` reads a stream through a consumer
group; a message stays pending in the group until :class:`RedisAck` acknowledges it,
which happens when the message's IP reaches the Ack process: everything upstream of it
on the IP's path has handled it (with a :class:`RedisSink` before the Ack, its result
is written first). A consumer that stops before that, however it stops, gets its
pending messages again when it starts with the same group and consumer names: it reads
its own pending entries first, then new ones. A message can thus be processed twice,
never lost.

Back-pressure reaches the broker: the source asks for at most ``BATCH`` messages at a
time, and only once it has sent the previous ones, so a slow network leaves the rest in
Redis instead of buffering it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port

__all__ = ("RedisAck", "RedisSink", "RedisSource", "StreamMessage")

DEFAULT_URL = "redis://localhost:6379/0"
INSTALL_HINT = "install the connectors extra: pip install 'fbp-causal[connectors]'"


class StreamMessage(BaseModel):
    """A message of a Redis stream, as :class:`RedisSource` delivers it.

    ``data`` is the message's ``data`` field decoded as JSON when that is its only
    field (as :class:`RedisSink` writes), else the fields as a dict of strings. Change
    ``data`` with ``msg.model_copy(update={"data": ...})`` to keep the message's
    identity, so that a :class:`RedisAck` further on acknowledges it.
    """

    stream: str
    id: str
    group: str
    data: Any


def _client(url: str, address: str) -> Any:
    try:
        import redis.asyncio as aioredis
    except ModuleNotFoundError as exc:
        msg = f"{address}: the Redis connector needs the redis package; {INSTALL_HINT}"
        raise ImportError(msg) from exc
    return aioredis.from_url(url, decode_responses=True)


def _decode(fields: dict[str, str]) -> Any:
    if set(fields) == {"data"}:
        try:
            return json.loads(fields["data"])
        except ValueError:
            return fields["data"]
    return dict(fields)


def _encode(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)


class RedisSource(Component):
    """Read a Redis stream through a consumer group, as fast as the network takes it.

    Runs until stopped. Pending messages of this consumer (read before a restart and
    never acknowledged) come first. Example:
    ``'orders' -> STREAM In(net/RedisSource) OUT -> IN Work(...) OUT -> IN Ack(net/RedisAck)``.
    """

    stream: InPort[str] = port(description="the stream's key")
    url: InPort[str] = port(default=DEFAULT_URL, description="the Redis server's URL")
    group: InPort[str] = port(default="fbp", description="the consumer group (made if absent)")
    consumer: InPort[str] = port(
        default="fbp-1", description="this consumer's name; keep it across restarts"
    )
    batch: InPort[int] = port(
        default=16, description="messages asked for at a time (held beyond the channel)"
    )
    block_ms: InPort[int] = port(default=1000, description="how long one read waits, ms")
    out: OutPort[StreamMessage] = port(description="one IP per message")

    async def run(self) -> None:
        stream = await self.stream.receive()
        url = await self.url.receive()
        group = await self.group.receive()
        consumer = await self.consumer.receive()
        batch = max(1, await self.batch.receive())
        block = max(1, await self.block_ms.receive())
        r = _client(url, self.out.address)
        try:
            await self._ensure_group(r, stream, group)
            # This consumer's pending entries first (from "0" on), then new ones (">").
            pending, last = True, "0"
            while True:
                reply = await r.xreadgroup(
                    group,
                    consumer,
                    {stream: last if pending else ">"},
                    count=batch,
                    block=None if pending else block,
                )
                entries = reply[0][1] if reply else []
                if pending and not entries:
                    pending = False
                    continue
                for msg_id, fields in entries:
                    if pending:
                        last = msg_id
                    if fields is None:  # deleted from the stream while pending
                        continue
                    await self.out.send(
                        StreamMessage(stream=stream, id=msg_id, group=group, data=_decode(fields))
                    )
        finally:
            await r.aclose()

    @staticmethod
    async def _ensure_group(r: Any, stream: str, group: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await r.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise


class RedisAck(Component):
    """Acknowledge stream messages: a message counts as processed when its IP gets here.

    Acknowledges in batches (every message buffered at once, one XACK per stream and
    group) and forwards each message once acknowledged.
    """

    in_: InPort[StreamMessage] = port(description="messages to acknowledge")
    url: InPort[str] = port(default=DEFAULT_URL, description="the Redis server's URL")
    out: OutPort[StreamMessage] = port(description="the acknowledged messages", optional=True)

    async def run(self) -> None:
        url = await self.url.receive()
        r = _client(url, self.in_.address)
        try:
            async for msgs in self.in_.batches(256):
                by_key: dict[tuple[str, str], list[str]] = {}
                for m in msgs:
                    by_key.setdefault((m.stream, m.group), []).append(m.id)
                for (stream, group), ids in by_key.items():
                    await r.xack(stream, group, *ids)
                if self.out.is_connected:
                    await self.out.send_batch(msgs)
        finally:
            await r.aclose()


class RedisSink(Component):
    """Append every IP to a Redis stream (field ``data``, JSON), and forward it.

    A :class:`StreamMessage` is written as its ``data``; forwarding it lets a
    :class:`RedisAck` after the sink acknowledge the message once its result is stored.
    """

    in_: InPort[Any] = port(description="payloads to append")
    stream: InPort[str] = port(description="the stream's key")
    url: InPort[str] = port(default=DEFAULT_URL, description="the Redis server's URL")
    maxlen: InPort[int] = port(
        default=0, description="trim the stream to about this length (0: no)"
    )
    out: OutPort[Any] = port(description="the IPs once written", optional=True)

    async def run(self) -> None:
        stream = await self.stream.receive()
        url = await self.url.receive()
        maxlen = await self.maxlen.receive()
        r = _client(url, self.in_.address)
        try:
            async for items in self.in_.batches(256):
                pipe = r.pipeline(transaction=False)
                for x in items:
                    value = x.data if isinstance(x, StreamMessage) else x
                    pipe.xadd(stream, {"data": _encode(value)}, maxlen=maxlen or None)
                await pipe.execute()
                if self.out.is_connected:
                    await self.out.send_batch(items)
        finally:
            await r.aclose()
