"""The Python side of the celery-rs adapter's interop test.

Follows the events with Celery 5.7's own EventReceiver and State, sends tasks
by name to the queue the Rust worker consumes (a task that runs 2 s, caught by
`inspect active` while it runs; a success, a failure, a task retried once, one
with a 2 s countdown, and COUNT `noop`s), waits until its State has every task
finished, asks the worker with `celery inspect` (ping and registered), and
prints `SUMMARY <json>`.

Usage: driver.py BROKER_URL QUEUE HOSTNAME COUNT
"""
import json
import sys
import threading
import time

from celery import Celery

url, queue, hostname, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
app = Celery(broker=url)
state = app.events.State(max_tasks_in_memory=100000)
seen = {"succeeded": {}, "failed": {}, "retried": {}}
ready = threading.Event()


def on_event(event):
    state.event(event)
    kind = event["type"]
    for end in ("succeeded", "failed", "retried"):
        if kind == "task-" + end:
            seen[end][event["uuid"]] = seen[end].get(event["uuid"], 0) + 1


def follow():
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": on_event})
        consume_ready = receiver.on_consume_ready

        def on_ready(*args, **kwargs):
            consume_ready(*args, **kwargs)
            ready.set()

        receiver.on_consume_ready = on_ready
        receiver.capture(limit=None, timeout=None, wakeup=False)


threading.Thread(target=follow, daemon=True).start()
assert ready.wait(20), "Celery's receiver never started"

# The worker is up once it answers ping.
deadline = time.time() + 30
pong = None
while time.time() < deadline:
    pong = app.control.inspect(destination=[hostname], timeout=1).ping()
    if pong:
        break
assert pong, "the Rust worker never answered ping"

sleeper = app.send_task("sleep", args=(2.0,), queue=queue).id
active = None
deadline = time.time() + 10
while active is None and time.time() < deadline:
    replies = app.control.inspect(destination=[hostname], timeout=1).active() or {}
    active = next((task for task in replies.get(hostname) or [] if task["id"] == sleeper), None)

ids = {
    "sleep": sleeper,
    "add": app.send_task("add", args=(2, 3), queue=queue).id,
    "fail": app.send_task("fail", queue=queue).id,
    "flaky": app.send_task("flaky", queue=queue).id,
    "eta": app.send_task("add", args=(1, 1), queue=queue, countdown=2).id,
}
noops = [app.send_task("noop", queue=queue).id for _ in range(count)]

final = {"SUCCESS", "FAILURE"}
deadline = time.time() + 120
while time.time() < deadline:
    done = [
        uuid
        for uuid in list(ids.values()) + noops
        if uuid in state.tasks and state.tasks[uuid].state in final
    ]
    if len(done) == len(ids) + len(noops):
        break
    time.sleep(0.2)
time.sleep(1)  # anything doubled would arrive now

inspect = app.control.inspect(destination=[hostname], timeout=2)
worker = state.workers.get(hostname)
summary = {
    "worker": {
        "alive": bool(worker and worker.alive),
        "processed": worker.processed if worker else None,
        "sw_ident": worker.sw_ident if worker else None,
    },
    "tasks": {
        label: {
            "state": state.tasks[uuid].state if uuid in state.tasks else None,
            "name": state.tasks[uuid].name if uuid in state.tasks else None,
            "result": state.tasks[uuid].result if uuid in state.tasks else None,
            "exception": state.tasks[uuid].exception if uuid in state.tasks else None,
            "runtime": state.tasks[uuid].runtime if uuid in state.tasks else None,
            "worker": state.tasks[uuid].worker.hostname
            if uuid in state.tasks and state.tasks[uuid].worker
            else None,
            "retried": seen["retried"].get(uuid, 0),
        }
        for label, uuid in ids.items()
    },
    "noops": {
        "sent": len(noops),
        "succeeded_once": sum(1 for uuid in noops if seen["succeeded"].get(uuid) == 1),
        "ends": sum(
            seen["succeeded"].get(uuid, 0) + seen["failed"].get(uuid, 0) for uuid in noops
        ),
    },
    "ids": ids,
    "active": active,
    "ping": inspect.ping(),
    "registered": inspect.registered(),
}
print("SUMMARY " + json.dumps(summary), flush=True)
