"""The client side of the exporter's side-by-side test: sends the mix of
mix_tasks.py in two phases and prints what the broker holds.

1. With no worker running: 5 `add` to `celery` and 3 `add` to `urgent` at
   priorities 1, 5 and 9. Prints `QUEUED <json>`: each queue's length as kombu
   itself reads it (a passive declare: on Redis, the sum of the priority
   sub-queues). Then waits for a line on stdin (the test starts the worker).
2. Once the worker answers a ping: a failure of each of two exception
   classes, a task retried once, a task with a 2 s countdown (an ETA), and a
   task revoked before it is sent. Prints `SENT <json>` with the revoked id.

Usage: MIX_BROKER=<url> mix_driver.py
"""
import json
import sys
import time
import uuid

from mix_tasks import add, app, fail_key, fail_value, flaky, later

for i in range(5):
    add.delay(i, i)
for priority in (1, 5, 9):
    add.apply_async((priority, 0), queue="urgent", priority=priority)

lengths = {}
with app.connection_for_write() as connection:
    channel = connection.default_channel
    for queue in app.conf.task_queues:
        queue.bind(channel).declare()
        lengths[queue.name] = queue.bind(channel).queue_declare(passive=True).message_count
print("QUEUED " + json.dumps(lengths), flush=True)

sys.stdin.readline()
deadline = time.time() + 60
while not app.control.ping(timeout=0.5):
    assert time.time() < deadline, "the worker never answered"

fail_value.delay()
fail_key.delay()
flaky.delay()
later.apply_async(countdown=2)
revoked = "revoked-" + str(uuid.uuid4())
# Revoked before it is sent: the worker announces task-revoked on receipt.
assert app.control.revoke(revoked, reply=True, timeout=5), "no revoke reply"
add.apply_async((1, 1), task_id=revoked)
print("SENT " + json.dumps({"revoked": revoked}), flush=True)
