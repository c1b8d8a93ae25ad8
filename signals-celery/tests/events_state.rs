//! `events::State`, Celery's cluster state: the behaviours of Celery 5.7's
//! `t/unit/events/test_state.py`, written from the behaviour: workers online,
//! offline, heartbeats, expiry and drift; task state sequences, out-of-order
//! merges and children linked out of order; logical-clock ordering; and the
//! bounds on tasks, the time index and unresolved parents.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use signals_celery::events::{Applied, Event, State, StateLimits, TaskState};

fn event(value: Value) -> Event {
    match value {
        Value::Object(fields) => Event::from_fields(fields),
        _ => unreachable!(),
    }
}

/// A worker event at time `at` (sent and received at once).
fn worker(kind: &str, hostname: &str, at: f64, extra: Value) -> Event {
    let mut fields = json!({
        "type": format!("worker-{kind}"), "hostname": hostname,
        "timestamp": at, "local_received": at, "pid": 42, "freq": 2.0,
    });
    merge(&mut fields, extra);
    event(fields)
}

/// A task event with a Lamport clock, from `hostname` at `at`.
fn task(kind: &str, uuid: &str, hostname: &str, at: f64, clock: u64, extra: Value) -> Event {
    let mut fields = json!({
        "type": format!("task-{kind}"), "uuid": uuid, "hostname": hostname,
        "timestamp": at, "local_received": at, "clock": clock,
    });
    merge(&mut fields, extra);
    event(fields)
}

fn merge(fields: &mut Value, extra: Value) {
    if let (Value::Object(fields), Value::Object(extra)) = (fields, extra) {
        fields.extend(extra);
    }
}

#[test]
fn a_worker_joins_beats_and_leaves() {
    let joined = Arc::new(Mutex::new(Vec::new()));
    let left = Arc::new(Mutex::new(Vec::new()));
    let (j, l) = (joined.clone(), left.clone());
    let state = State::new()
        .on_node_join(move |w| j.lock().unwrap().push(w.hostname.to_string()))
        .on_node_leave(move |w| l.lock().unwrap().push(w.hostname.to_string()));
    assert_eq!(
        state.apply(&worker(
            "online",
            "w1",
            100.0,
            json!({"sw_ident": "py-celery"})
        )),
        Applied::Worker {
            hostname: "w1".into(),
            created: true
        }
    );
    let w = state.worker("w1").unwrap();
    assert_eq!(
        (w.pid, w.freq, w.sw_ident.as_deref()),
        (Some(42), 2.0, Some("py-celery"))
    );
    assert_eq!(w.id(), "w1.42");
    assert!(
        w.alive_at(103.9) && !w.alive_at(104.0),
        "alive until the last beat + 2 x freq"
    );
    for at in [101.0, 102.0, 103.0, 104.0, 105.0] {
        state.apply(&worker(
            "heartbeat",
            "w1",
            at,
            json!({"active": 3, "processed": 10}),
        ));
    }
    let w = state.worker("w1").unwrap();
    assert_eq!(w.heartbeats, [102.0, 103.0, 104.0, 105.0], "the last four");
    assert_eq!((w.active, w.processed), (Some(3), Some(10)));
    assert!(w.alive_at(108.5) && !w.alive_at(109.0));
    state.apply(&worker("offline", "w1", 106.0, json!({})));
    assert!(state.worker("w1").is_none(), "an offline worker is removed");
    assert_eq!(*joined.lock().unwrap(), ["w1"]);
    assert_eq!(*left.lock().unwrap(), ["w1"]);
    // Coming back is a join again.
    state.apply(&worker("online", "w1", 110.0, json!({})));
    assert_eq!(*joined.lock().unwrap(), ["w1", "w1"]);
}

#[test]
fn without_a_leave_callback_an_offline_worker_is_kept_and_not_alive() {
    // Celery's `State._event` removes a worker that goes offline only when
    // `on_node_leave` is set; without one, the worker stays, its heartbeats
    // cleared (its own `test_worker_online_offline` reads it afterwards).
    let state = State::new();
    state.apply(&worker("online", "w1", 100.0, json!({})));
    state.apply(&worker("heartbeat", "w1", 101.0, json!({"active": 2})));
    assert!(state.worker("w1").unwrap().alive_at(101.5));
    state.apply(&worker("offline", "w1", 102.0, json!({})));
    let w = state.worker("w1").expect("an offline worker is kept");
    assert!(w.heartbeats.is_empty(), "its heartbeats are cleared");
    assert!(!w.alive_at(102.0), "and it is not alive");
    assert_eq!(state.workers().len(), 1);
    // Back online, it is alive again.
    state.apply(&worker("online", "w1", 103.0, json!({})));
    assert!(state.worker("w1").unwrap().alive_at(103.5));
}

#[test]
fn heartbeats_out_of_order_are_inserted_in_order_and_default_freq_is_60() {
    let state = State::new();
    let beat = |at: f64| {
        event(
            json!({"type": "worker-heartbeat", "hostname": "w2", "timestamp": at, "local_received": at}),
        )
    };
    for at in [10.0, 30.0, 20.0] {
        state.apply(&beat(at));
    }
    let w = state.worker("w2").unwrap();
    assert_eq!(w.heartbeats, [10.0, 20.0, 30.0]);
    assert_eq!(w.freq, 60.0);
    assert!(w.alive_at(149.0) && !w.alive_at(150.0));
    assert!(!w.alive(), "long expired now");
}

#[test]
fn events_missing_required_fields_are_ignored() {
    let state = State::new();
    assert_eq!(
        state.apply(&event(json!({"type": "worker-online", "hostname": "w1"}))),
        Applied::Ignored
    );
    assert_eq!(
        state.apply(&event(
            json!({"type": "task-received", "uuid": "t", "hostname": "w1",
            "timestamp": 1.0, "local_received": 1.0})
        )),
        Applied::Ignored,
        "no clock"
    );
    assert_eq!(
        state.apply(&event(json!({"type": "app-custom"}))),
        Applied::Ignored
    );
    assert!(state.workers().is_empty());
    assert!(state.task("t").is_none());
    assert_eq!(state.event_count(), 3, "counted all the same");
}

#[test]
fn a_task_goes_through_its_states() {
    let state = State::new();
    let steps = [
        (
            "sent",
            TaskState::Pending,
            json!({"name": "tasks.add", "args": "(2, 2)", "kwargs": "{}", "retries": 0}),
        ),
        (
            "received",
            TaskState::Received,
            json!({"name": "tasks.add", "args": "(2, 2)", "kwargs": "{}"}),
        ),
        ("started", TaskState::Started, json!({})),
        (
            "succeeded",
            TaskState::Success,
            json!({"result": "4", "runtime": 0.25}),
        ),
    ];
    for (i, (kind, expected, extra)) in steps.into_iter().enumerate() {
        let host = if kind == "sent" { "client" } else { "w1" };
        state.apply(&task(
            kind,
            "t1",
            host,
            100.0 + i as f64,
            10 + i as u64,
            extra,
        ));
        assert_eq!(
            state.task("t1").unwrap().state,
            expected,
            "after task-{kind}"
        );
    }
    let t = state.task("t1").unwrap();
    assert_eq!(t.name.as_deref(), Some("tasks.add"));
    assert_eq!(t.args.as_deref(), Some("(2, 2)"));
    assert_eq!((t.result.as_deref(), t.runtime), (Some("4"), Some(0.25)));
    assert_eq!(
        (t.sent, t.received, t.started, t.succeeded),
        (Some(100.0), Some(101.0), Some(102.0), Some(103.0))
    );
    assert_eq!(t.client.as_deref(), Some("client"));
    assert_eq!(t.worker.as_deref(), Some("w1"));
    assert_eq!(t.clock, 13);
    assert!(t.is_ready());
    assert_eq!(state.task_count(), 1, "one task-received");
    // Task events are heartbeats of their worker: their timestamps.
    assert_eq!(
        state.worker("w1").unwrap().heartbeats,
        [101.0, 102.0, 103.0]
    );
    assert!(
        state.worker("client").is_none(),
        "task-sent comes from a client"
    );
}

#[test]
fn late_events_merge_without_moving_the_state_back() {
    let state = State::new();
    state.apply(&task(
        "succeeded",
        "t1",
        "w1",
        103.0,
        13,
        json!({"result": "4"}),
    ));
    state.apply(&task("started", "t1", "w1", 102.0, 12, json!({})));
    let t = state.task("t1").unwrap();
    assert_eq!(
        t.state,
        TaskState::Success,
        "started happened before succeeded"
    );
    assert_eq!(t.started, Some(102.0), "its time is kept all the same");
    assert_eq!(
        t.clock, 12,
        "a late event other than received gives all its fields"
    );
    state.apply(&task(
        "received", "t1", "w1", 101.0, 11,
        json!({"name": "tasks.add", "args": "(1,)", "kwargs": "{}", "retries": 2, "result": "wrong"}),
    ));
    let t = state.task("t1").unwrap();
    assert_eq!(t.state, TaskState::Success);
    assert_eq!(
        t.name.as_deref(),
        Some("tasks.add"),
        "received's merge fields"
    );
    assert_eq!(t.retries, Some(2));
    assert_eq!(
        t.result.as_deref(),
        Some("4"),
        "only the merge fields of a late received"
    );
    assert_eq!(t.clock, 12, "a late received does not set the clock");
    assert_eq!(t.timestamp, Some(102.0));
}

#[test]
fn retry_always_applies_and_custom_states_rank_as_celerys_none() {
    let state = State::new();
    state.apply(&task("started", "t1", "w1", 1.0, 1, json!({})));
    state.apply(&task(
        "retried",
        "t1",
        "w1",
        2.0,
        2,
        json!({"exception": "Boom()"}),
    ));
    assert_eq!(state.task("t1").unwrap().state, TaskState::Retry);
    state.apply(&task(
        "received",
        "t1",
        "w1",
        3.0,
        3,
        json!({"name": "tasks.flaky"}),
    ));
    let t = state.task("t1").unwrap();
    assert_eq!(
        t.state,
        TaskState::Received,
        "after RETRY any state applies"
    );
    assert_eq!(t.exception.as_deref(), Some("Boom()"));
    state.apply(&task("progress", "t1", "w1", 4.0, 4, json!({})));
    assert_eq!(
        state.task("t1").unwrap().state,
        TaskState::Custom("PROGRESS".into())
    );
    state.apply(&task("started", "t1", "w1", 5.0, 5, json!({})));
    assert_eq!(
        state.task("t1").unwrap().state,
        TaskState::Custom("PROGRESS".into()),
        "STARTED ranks before a custom state"
    );
    state.apply(&task(
        "failed",
        "t1",
        "w1",
        6.0,
        6,
        json!({"exception": "KeyError('x')", "traceback": "..."}),
    ));
    assert_eq!(state.task("t1").unwrap().state, TaskState::Failure);
    state.apply(&task("revoked", "t2", "w1", 7.0, 7, json!({})));
    assert!(state.task("t2").unwrap().is_ready());
}

#[test]
fn children_link_whichever_arrives_first() {
    let state = State::new();
    // The child arrives before its parent.
    state.apply(&task(
        "received",
        "child",
        "w1",
        2.0,
        2,
        json!({"name": "tasks.child", "parent_id": "parent", "root_id": "parent"}),
    ));
    assert_eq!(state.read().unresolved_parents(), 1);
    state.apply(&task(
        "received",
        "parent",
        "w1",
        1.0,
        1,
        json!({"name": "tasks.parent"}),
    ));
    assert_eq!(state.read().unresolved_parents(), 0);
    // A second child after the parent.
    state.apply(&task(
        "received",
        "child2",
        "w1",
        3.0,
        3,
        json!({"name": "tasks.child", "parent_id": "parent"}),
    ));
    let view = state.read();
    let parent = view.task("parent").unwrap();
    let children: Vec<&str> = view.children(parent).map(|t| &*t.uuid).collect();
    assert_eq!(children, ["child", "child2"]);
    assert_eq!(
        view.task("child").unwrap().root_id.as_deref(),
        Some("parent")
    );
}

#[test]
fn tasks_by_time_follows_the_logical_clock_then_the_sender() {
    let state = State::new();
    // Arrival order differs from clock order; timestamps disagree with clocks.
    state.apply(&task("received", "c", "w1", 1.0, 30, json!({"name": "a"})));
    state.apply(&task("received", "a", "w1", 3.0, 10, json!({"name": "a"})));
    state.apply(&task("received", "b", "w1", 2.0, 20, json!({"name": "b"})));
    // Equal clocks: the sender's id decides (w0.None < w1.None).
    state.apply(&task("received", "d", "w0", 9.0, 30, json!({"name": "b"})));
    let newest: Vec<String> = state
        .tasks_by_time(10)
        .iter()
        .map(|t| t.uuid.to_string())
        .collect();
    assert_eq!(newest, ["c", "d", "b", "a"]);
    // A task appears once, at its newest event.
    state.apply(&task("succeeded", "a", "w1", 4.0, 40, json!({})));
    let newest: Vec<String> = state
        .tasks_by_time(2)
        .iter()
        .map(|t| t.uuid.to_string())
        .collect();
    assert_eq!(newest, ["a", "c"]);
    let view = state.read();
    let mut by_type: Vec<&str> = view.tasks_by_type("a").map(|t| &*t.uuid).collect();
    by_type.sort_unstable();
    assert_eq!(by_type, ["a", "c"]);
    assert_eq!(view.tasks_by_worker("w0").count(), 1);
    assert_eq!(view.task_types().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn events_without_a_clock_are_ordered_by_timestamp() {
    let state = State::new();
    for (uuid, at) in [("late", 5.0), ("early", 1.0), ("middle", 3.0)] {
        state.apply(&task("received", uuid, "w1", at, 0, json!({"name": "x"})));
    }
    let newest: Vec<String> = state
        .tasks_by_time(3)
        .iter()
        .map(|t| t.uuid.to_string())
        .collect();
    assert_eq!(newest, ["late", "middle", "early"]);
}

#[test]
fn max_tasks_bounds_the_tasks_the_time_index_and_the_unresolved_parents() {
    let state = State::with_limits(StateLimits {
        max_tasks: 100,
        ..StateLimits::default()
    });
    for i in 0..1_000u64 {
        let uuid = format!("t{i}");
        let parent = format!("missing{i}");
        for (step, kind) in ["received", "started", "succeeded"].into_iter().enumerate() {
            state.apply(&task(
                kind,
                &uuid,
                "w1",
                i as f64,
                i * 3 + step as u64 + 1,
                json!({"name": format!("tasks.n{}", i % 7), "parent_id": parent}),
            ));
        }
    }
    let view = state.read();
    assert_eq!(view.task_len(), 100, "the newest 100 tasks");
    assert!(view.task("t999").is_some() && view.task("t899").is_none());
    assert!(view.time_index_len() <= 400, "4 entries per kept task");
    assert!(view.unresolved_parents() <= 100, "celery #4832");
    let indexed: usize = (0..7)
        .map(|n| view.tasks_by_type(&format!("tasks.n{n}")).count())
        .sum();
    assert_eq!(indexed, 100, "evicted tasks leave the indexes");
    assert_eq!(view.tasks_by_time().count(), 100);
}

#[test]
fn max_workers_bounds_the_workers() {
    let state = State::with_limits(StateLimits {
        max_workers: 3,
        ..StateLimits::default()
    });
    for i in 0..10 {
        state.apply(&worker("online", &format!("w{i}"), 1.0, json!({})));
    }
    let names: Vec<String> = state
        .workers()
        .into_iter()
        .map(|w| w.hostname.to_string())
        .collect();
    assert_eq!(names, ["w7", "w8", "w9"]);
}

#[test]
fn clear_keeps_unfinished_tasks_when_asked() {
    let state = State::new();
    state.apply(&task("succeeded", "done", "w1", 1.0, 1, json!({})));
    state.apply(&task("started", "running", "w1", 1.0, 2, json!({})));
    state.clear(true);
    assert!(state.task("done").is_none() && state.task("running").is_some());
    assert!(state.workers().is_empty());
    state.clear(false);
    assert!(state.task("running").is_none());
}
