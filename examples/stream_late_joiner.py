"""Join late: read every event from the stream isfahan.social.events.log, then follow live.

    python examples/stream_late_joiner.py amqp://user:pass@host:5672/ 2026-11-01T00:00:00+03:30
The start is first, last, next, an offset (a number) or a time (ISO 8601, with its offset).
"""
import json
import sys
from datetime import datetime

import pika

url, start = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "first"
offset = (start if start in ("first", "last", "next") else int(start) if start.isdigit()
          else datetime.fromisoformat(start))  # pika sends a datetime as an AMQP timestamp
channel = pika.BlockingConnection(pika.URLParameters(url)).channel()
channel.basic_qos(prefetch_count=100)  # a stream consumer must set a prefetch and ack
seen: set[str] = set()  # CloudEvent ids handled: a re-publication has the same id


def handle(channel, method, properties, body):
    event = json.loads(body)
    if event["id"] not in seen:
        seen.add(event["id"])
        print(event["sequence"], event["id"], event["type"], event["subject"], flush=True)
    channel.basic_ack(method.delivery_tag)


channel.basic_consume("isfahan.social.events.log", handle,
                      arguments={"x-stream-offset": offset})
channel.start_consuming()
