#!/usr/bin/env python3
"""Celery 5.7's own EventDispatcher on a RabbitMQ node: events per second,
unbuffered and grouped (buffer_group=['task'], 24 events per task.multi).

Run by `cargo bench --bench amqp_events` against the node that benchmark
started, so that both figures come from the same broker in the same run.

Each trial sends EVENTS task-succeeded events and is timed until a queue of the
script's own, bound to `celeryev` with '#', holds every message: the same end
point as the Rust benchmark's (publisher confirms, which RabbitMQ gives once the
message is routed to the queue). The trial fails if a message is missing.

Usage: python celery_amqp_bench.py AMQP_URL [--events N] [--trials T]
Prints one JSON object: {"celery": version, "unbuffered": eps, "grouped_24": eps}.
"""
import argparse
import json
import statistics
import time

import celery
from celery import Celery
from kombu import Exchange, Queue


def trial(app, queue, events, grouped):
    options = {"hostname": "bench@celery"}
    if grouped:
        options.update(buffer_group=["task"], buffer_limit=24)
    messages = -(-events // 24) if grouped else events
    with app.connection_for_write() as connection:
        dispatcher = app.events.Dispatcher(connection, **options)
        start = time.perf_counter()
        for _ in range(events):
            dispatcher.send(
                "task-succeeded",
                uuid="d9bd3a2c-6ad4-4c8e-bb3f-0d6a4b3f3f0e",
                result="4",
                runtime=0.0123,
            )
        dispatcher.flush()
        deadline = time.monotonic() + 60
        while True:
            held = queue.queue_declare(passive=True).message_count
            if held >= messages:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {held} of {messages} messages reached the queue")
            time.sleep(0.001)
        elapsed = time.perf_counter() - start
        dispatcher.close()
    queue.purge()
    return events / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    app = Celery(broker=args.url)
    with app.connection_for_write() as connection:
        queue = Queue(
            "bench.celery-counter",
            Exchange("celeryev", type="topic", durable=True, auto_delete=False),
            routing_key="#",
            durable=False,
            auto_delete=False,
        )(connection.default_channel)
        queue.declare()
        queue.purge()
        result = {"celery": celery.__version__}
        for name, grouped, events in [
            ("unbuffered", False, args.events),
            ("grouped_24", True, args.events * 10),
        ]:
            rates = [trial(app, queue, events, grouped) for _ in range(args.trials)]
            result[name] = statistics.median(rates)
        queue.delete()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
