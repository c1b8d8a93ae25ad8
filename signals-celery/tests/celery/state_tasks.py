"""Tasks for the cluster-state interop test (tests/state_interop.rs): one that
succeeds, one that fails, one retried once, and `add` again for a revoked id.

The broker comes from STATE_BROKER, its transport options (JSON, such as
Sentinel's `master_name`) from STATE_TRANSPORT_OPTIONS if set; task events
(and task-sent) are on.
"""
import json
import os

from celery import Celery

app = Celery("state_tasks", broker=os.environ["STATE_BROKER"])
app.conf.worker_send_task_events = True
app.conf.task_send_sent_event = True
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True
app.conf.broker_transport_options = json.loads(
    os.environ.get("STATE_TRANSPORT_OPTIONS", "{}")
)


@app.task
def add(x, y):
    return x + y


@app.task
def fail():
    raise ValueError("bad input: ünïcode")


@app.task(bind=True, max_retries=1)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0, exc=KeyError("first try"))
    return "ok after retry"


# A hostile, non-ASCII name: the exporter must escape it in its output.
@app.task(name='evil"name\\with\nnewline ünïcode')
def hostile():
    return None
