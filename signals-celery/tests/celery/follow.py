"""Follows Celery events with Celery's own EventReceiver and monitor State.

Usage: follow.py BROKER_URL LIMIT TIMEOUT_SECONDS

The broker's transport options (JSON, such as Sentinel's `master_name`) come
from BROKER_TRANSPORT_OPTIONS if set.

Prints each event as Celery's receiver hands it over (`EVENT <json>`) and as
`celery events --dump` prints it (`DUMP <line>`), then `SUMMARY <json>`: the workers and tasks as celery.events.state.State saw
them, which is what `celery events` and Flower show.
"""
import io
import json
import os
import sys

from celery import Celery
from celery.events.dumper import Dumper

url, limit, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
app = Celery(broker=url)
app.conf.broker_transport_options = json.loads(
    os.environ.get("BROKER_TRANSPORT_OPTIONS", "{}")
)
state = app.events.State()
dump = io.StringIO()
dumper = Dumper(out=dump)


received = 0


def on_event(event):
    global received
    state.event(event)
    print("EVENT " + json.dumps(event), flush=True)
    dumper.on_event(dict(event))  # `celery events --dump`'s line
    print("DUMP " + dump.getvalue().rstrip("\n"), flush=True)
    dump.seek(0)
    dump.truncate()
    received += 1
    if received >= limit:
        # capture's own `limit` counts reads, not events (a .multi read holds
        # several).
        receiver.should_stop = True


with app.connection_for_read() as connection:
    receiver = app.events.Receiver(connection, handlers={"*": on_event})
    consume_ready = receiver.on_consume_ready

    def ready(*args, **kwargs):
        # Once capture() has its queue bound (an AMQP exchange drops what no
        # bound queue takes).
        consume_ready(*args, **kwargs)
        print("READY", flush=True)

    receiver.on_consume_ready = ready
    receiver.capture(limit=None, timeout=timeout, wakeup=False)

summary = {
    "workers": {
        hostname: {
            "alive": worker.alive,
            "active": worker.active,
            "processed": worker.processed,
            "freq": worker.freq,
            "sw_ident": worker.sw_ident,
            "sw_ver": worker.sw_ver,
            "loadavg": worker.loadavg,
        }
        for hostname, worker in state.workers.items()
    },
    "tasks": {
        uuid: {
            "state": task.state,
            "name": task.name,
            "args": task.args,
            "result": task.result,
            "exception": task.exception,
            "runtime": task.runtime,
            "worker": task.worker.hostname if task.worker else None,
        }
        for uuid, task in state.tasks.items()
    },
    "event_count": state.event_count,
    "task_count": state.task_count,
}
print("SUMMARY " + json.dumps(summary), flush=True)
