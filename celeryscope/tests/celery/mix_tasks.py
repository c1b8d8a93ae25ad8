"""Tasks for the exporter's side-by-side test (tests/celery_worker.rs): a mix
of outcomes as a real deployment has them, on two queues, `celery` and the
priority queue `urgent`.

The broker comes from MIX_BROKER; task events (and task-sent) are on.
"""
import os

from celery import Celery
from kombu import Queue

app = Celery("mix_tasks", broker=os.environ["MIX_BROKER"])
app.conf.worker_send_task_events = True
app.conf.task_send_sent_event = True
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True
# `urgent` is a priority queue: x-max-priority on RabbitMQ; on Redis, kombu's
# priority sub-queues (priority_steps 0, 3, 6, 9 by default).
app.conf.task_queues = [
    Queue("celery"),
    Queue("urgent", queue_arguments={"x-max-priority": 10}),
]
app.conf.task_default_queue = "celery"


@app.task
def add(x, y):
    return x + y


@app.task
def fail_value():
    raise ValueError("bad input")


@app.task
def fail_key():
    raise KeyError("missing")


@app.task(bind=True, max_retries=1)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0, exc=KeyError("first try"))
    return "ok after retry"


@app.task
def later():
    return "on time"
