#!/usr/bin/env python3
"""Celery 5.7's own cluster State (celery.events.state.State) fed recorded
events: events applied per second.

Run by `cargo bench --bench state` on the very events it fed our State, so
both figures come from the same input in the same run. Three figures, as
the Rust side measures its own:

- events_per_second: every event parsed into a dict first, then only
  `State.event` timed over all of them;
- events_per_second_batched: the events parsed 100 at a time (a `.multi`
  message's worth) just before they are applied, as a receiver hands them
  over; only `State.event` is timed;
- events_per_second_from_text: `json.loads` and `State.event` both timed.

Usage: python celery_state_bench.py EVENTS_JSONL [--trials T]
EVENTS_JSONL holds one event per line, as a receiver hands them to the state
(with `local_received`). Prints one JSON object:
{"celery": version, "events": n, "events_per_second": eps,
 "events_per_second_batched": eps, "events_per_second_from_text": eps,
 "tasks": n, "workers": n}.
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
        texts = lines.read().splitlines()
    events = [json.loads(text) for text in texts]
    rates, batched, from_text = [], [], []
    for _ in range(options.trials):
        # Fresh dicts each trial: Celery's state keeps references to them.
        batch = [dict(event) for event in events]
        state = State()
        start = time.perf_counter()
        for event in batch:
            state.event(event)
        rates.append(len(batch) / (time.perf_counter() - start))
        del batch

        state = State()
        applying = 0.0
        for at in range(0, len(texts), 100):
            batch = [json.loads(text) for text in texts[at:at + 100]]
            start = time.perf_counter()
            for event in batch:
                state.event(event)
            applying += time.perf_counter() - start
        batched.append(len(texts) / applying)

        state = State()
        start = time.perf_counter()
        for text in texts:
            state.event(json.loads(text))
        from_text.append(len(texts) / (time.perf_counter() - start))
    print(json.dumps({
        "celery": celery.__version__,
        "events": len(events),
        "events_per_second": statistics.median(rates),
        "events_per_second_batched": statistics.median(batched),
        "events_per_second_from_text": statistics.median(from_text),
        "tasks": len(state.tasks),
        "workers": len(state.workers),
    }))


if __name__ == "__main__":
    main()
