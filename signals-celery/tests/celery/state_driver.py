"""The Python side of the cluster-state interop test: follows the events with
Celery 5.7's own EventReceiver and State, runs tasks on the worker the test
started (success, failure, retry, revoke), waits until its State has them all
finished, and prints `SUMMARY <json>`: the workers' alive flags and each task's
state, name, result, exception and runtime, as Celery's State has them.

Usage: state_driver.py BROKER_URL
"""
import json
import sys
import threading
import time
import uuid

import state_tasks
from state_tasks import add, app, fail, flaky, hostile

state = app.events.State()
ready = threading.Event()
receiver_box = {}


def follow():
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": state.event})
        receiver_box["receiver"] = receiver
        consume_ready = receiver.on_consume_ready

        def on_ready(*args, **kwargs):
            consume_ready(*args, **kwargs)
            ready.set()

        receiver.on_consume_ready = on_ready
        receiver.capture(limit=None, timeout=None, wakeup=False)


thread = threading.Thread(target=follow, daemon=True)
thread.start()
assert ready.wait(20), "Celery's receiver never started"

# The worker is up once it answers a ping.
deadline = time.time() + 60
while not app.control.ping(timeout=0.5):
    assert time.time() < deadline, "the worker never answered"

ids = [add.delay(2, 2).id, fail.delay().id, flaky.delay().id, hostile.delay().id]
revoked = "revoked-" + str(uuid.uuid4())
# Revoked before it is sent: the worker announces task-revoked on receipt.
assert app.control.revoke(revoked, reply=True, timeout=5), "no revoke reply"
add.apply_async((1, 1), task_id=revoked)
ids.append(revoked)

FINAL = {"SUCCESS", "FAILURE", "REVOKED"}
deadline = time.time() + 60
while True:
    tasks = state.tasks
    if all(i in tasks and tasks[i].state in FINAL for i in ids):
        break
    assert time.time() < deadline, {i: tasks[i].state if i in tasks else None for i in ids}
    time.sleep(0.05)
# Late events (a retried task's own) settle.
time.sleep(0.5)

summary = {
    "ids": ids,
    "workers": {w.hostname: {"alive": w.alive} for w in state.workers.values()},
    "tasks": {
        task.uuid: {
            "state": task.state,
            "name": task.name,
            "result": task.result,
            "exception": task.exception,
            "runtime": task.runtime,
        }
        for task in state.tasks.values()
    },
}
print("SUMMARY " + json.dumps(summary), flush=True)
receiver_box["receiver"].should_stop = True
