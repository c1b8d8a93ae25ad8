"""Sends events with Celery's own EventDispatcher, as a worker does.

Usage: emit.py BROKER_URL

Sends, from `py@worker`: worker-online, task-sent, task-received, task-started,
task-succeeded, task-failed, task-retried, task-revoked, task-rejected,
worker-heartbeat; then task-received, task-started and task-succeeded buffered
in the `task` group and flushed as one `task.multi` message; then a blind event
and worker-offline. Prints `SENT <number of events>`.
"""
import sys

import celery
from celery import Celery

url = sys.argv[1]
app = Celery(broker=url)
worker = dict(freq=2.0, sw_ident="py-celery", sw_ver=celery.__version__, sw_sys="Linux",
              active=1, processed=7, loadavg=[0.5, 0.25, 0.125])
sent = 0

with app.connection_for_write() as connection:
    dispatcher = app.events.Dispatcher(connection, hostname="py@worker")
    grouped = app.events.Dispatcher(connection, hostname="py@worker",
                                    buffer_group=["task"], buffer_limit=100)

    def send(kind, **fields):
        global sent
        dispatcher.send(kind, **fields)
        sent += 1

    send("worker-online", **worker)
    send("task-sent", uuid="p1", name="tasks.add", args="(2, 2)", kwargs="{}", retries=0,
         eta=None, expires=None, queue="celery", exchange="", routing_key="celery",
         root_id="p1", parent_id=None)
    send("task-received", uuid="p1", name="tasks.add", args="(2, 2)", kwargs="{}", retries=0,
         eta=None, expires=None, root_id="p1", parent_id=None)
    send("task-started", uuid="p1")
    send("task-succeeded", uuid="p1", result="4", runtime=0.25)
    send("task-failed", uuid="p2", exception="ZeroDivisionError('division by zero')",
         traceback="Traceback (most recent call last):\n  ...")
    send("task-retried", uuid="p3", exception="Retry('in 2s')", traceback="")
    send("task-revoked", uuid="p4", terminated=True, signum=15, expired=False)
    send("task-rejected", uuid="p5", requeue=False)
    send("worker-heartbeat", **worker)

    grouped.send("task-received", uuid="p6", name="tasks.mul", args="(3, 4)", kwargs="{}",
                 retries=0, eta=None, expires=None, root_id="p6", parent_id=None)
    grouped.send("task-started", uuid="p6")
    grouped.send("task-succeeded", uuid="p6", result="12", runtime=0.5)
    grouped.flush()
    sent += 3

    send("custom-blind", blind=True, note="no clock")
    send("worker-offline", **worker)
    dispatcher.close()
    grouped.close()

print(f"SENT {sent}", flush=True)
