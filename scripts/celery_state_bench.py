#!/usr/bin/env python3
"""Celery 5.7's own cluster State (celery.events.state.State) fed recorded
events: events applied per second.

Run by `cargo bench --bench state` on the very events it fed our State, so
both figures come from the same input in the same run.

Usage: python celery_state_bench.py EVENTS_JSONL [--trials T]
EVENTS_JSONL holds one event per line, as a receiver hands them to the state
(with `local_received`). Prints one JSON object:
{"celery": version, "events": n, "events_per_second": eps, "tasks": n, "workers": n}.
"""
import argparse
import json
import statistics
import time

import celery
from celery.events.state import State


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("events")
    parser.add_argument("--trials", type=int, default=3)
    options = parser.parse_args()
    with open(options.events) as lines:
        events = [json.loads(line) for line in lines]
    rates = []
    for _ in range(options.trials):
        # Fresh dicts each trial: Celery's state keeps references to them.
        batch = [dict(event) for event in events]
        state = State()
        start = time.perf_counter()
        for event in batch:
            state.event(event)
        rates.append(len(batch) / (time.perf_counter() - start))
    print(json.dumps({
        "celery": celery.__version__,
        "events": len(events),
        "events_per_second": statistics.median(rates),
        "tasks": len(state.tasks),
        "workers": len(state.workers),
    }))


if __name__ == "__main__":
    main()
