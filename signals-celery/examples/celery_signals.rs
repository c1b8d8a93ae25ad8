//! Receivers on the Celery signal catalog (`signals_celery::signals`), registered with
//! `#[receiver]`, and a toy task runner that sends the signals the way a Celery
//! client and worker do.
//!
//! `cargo run --example celery_signals`

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};
use signals::receiver;
use signals_celery::signals::{
    after_task_publish, before_task_publish, task_failure, task_postrun, task_prerun, task_sent,
    task_success, worker_ready, AfterTaskPublishArgs, BeforeTaskPublishArgs, TaskArgs,
    TaskFailureArgs, TaskId, TaskKwargs, TaskPostrunArgs, TaskPrerunArgs, TaskSentArgs, TaskState,
    TaskSuccessArgs, WorkerReadyArgs,
};

// Celery's documented example: only for tasks named "tasks.add".
#[receiver(task_sent, sender = "tasks.add")]
fn on_add_sent(task_id: &TaskId, eta: Option<&SystemTime>) {
    println!("  [task_sent] tasks.add sent as {task_id}, eta {eta:?}");
}

// Headers are mutable in Celery's before_task_publish; here they sit behind a Mutex.
#[receiver(before_task_publish)]
fn stamp_origin(sender: &&str, headers: &Mutex<Map<String, Value>>) {
    let mut headers = headers.lock().expect("not poisoned");
    headers.insert("origin".into(), json!("rust-client"));
    println!("  [before_task_publish] {sender}: stamped origin");
}

#[receiver(after_task_publish)]
fn published(routing_key: &str, headers: &Map<String, Value>) {
    println!(
        "  [after_task_publish] routed to {routing_key}, origin {}",
        headers["origin"]
    );
}

#[receiver([task_prerun, task_postrun])]
fn trace(sender: &&str, task_id: &TaskId) {
    println!("  [prerun/postrun] {sender} {task_id}");
}

#[receiver(task_postrun)]
fn state(task_id: &TaskId, state: &TaskState, retval: &Value) {
    println!(
        "  [task_postrun] {task_id} -> {} ({retval})",
        state.as_str()
    );
}

#[receiver(task_success)]
fn timing(sender: &&str, runtime: &Duration) {
    println!("  [task_success] {sender} took {runtime:?}");
}

#[receiver(task_failure)]
fn alert(task_id: &TaskId, exception: &signals::BoxError) {
    println!("  [task_failure] {task_id}: {exception}");
}

#[receiver(worker_ready)]
fn ready(sender: &String) {
    println!("  [worker_ready] {sender}");
}

/// Publishes a task as a Celery client does, sending the publish signals.
fn publish(task: &'static str, id: &str, args: TaskArgs) -> Map<String, Value> {
    let headers = Mutex::new(Map::from_iter([("task".into(), json!(task))]));
    let before = BeforeTaskPublishArgs {
        body: json!([args, {}, {}]),
        exchange: String::new(),
        routing_key: "celery".into(),
        headers,
        properties: Mutex::new(Map::new()),
        declare: Vec::new(),
        retry_policy: None,
    };
    before_task_publish
        .send(task, &before)
        .expect("receivers succeed");
    let headers = before.headers.into_inner().expect("not poisoned");
    let mut sent = TaskSentArgs::new(TaskId::from(id), task);
    sent.args = args;
    task_sent.send(task, &sent).expect("receivers succeed");
    let after = AfterTaskPublishArgs {
        body: before.body,
        headers,
        exchange: before.exchange,
        routing_key: before.routing_key,
    };
    after_task_publish
        .send(task, &after)
        .expect("receivers succeed");
    after.headers
}

/// Runs a task as a worker does, sending the run signals.
fn run(
    task: &'static str,
    id: &str,
    args: TaskArgs,
    body: impl Fn(&[Value]) -> Result<Value, String>,
) {
    let task_id = TaskId::from(id);
    let prerun = TaskPrerunArgs {
        task_id: task_id.clone(),
        task,
        args: args.clone(),
        kwargs: TaskKwargs::new(),
    };
    task_prerun.send(task, &prerun).expect("receivers succeed");
    let started = Instant::now();
    let outcome = body(&args);
    let (retval, state) = match &outcome {
        Ok(value) => (value.clone(), TaskState::Success),
        Err(message) => (json!(message), TaskState::Failure),
    };
    match outcome {
        Ok(result) => {
            let success = TaskSuccessArgs {
                result,
                runtime: started.elapsed(),
            };
            task_success
                .send(task, &success)
                .expect("receivers succeed");
        }
        Err(message) => {
            let failure = TaskFailureArgs {
                task_id: task_id.clone(),
                exception: message.into(),
                args: args.clone(),
                kwargs: TaskKwargs::new(),
                traceback: None,
                einfo: None,
            };
            // A failing receiver must not hide the task's failure: send_robust.
            for (receiver, outcome) in task_failure.send_robust(task, &failure) {
                if let Err(error) = outcome {
                    eprintln!("  receiver {receiver} failed: {error}");
                }
            }
        }
    }
    let postrun = TaskPostrunArgs {
        task_id,
        task,
        args,
        kwargs: TaskKwargs::new(),
        retval,
        state,
    };
    task_postrun
        .send(task, &postrun)
        .expect("receivers succeed");
}

fn main() {
    println!("client:");
    publish("tasks.add", "add-1", vec![json!(2), json!(3)]);
    publish("tasks.div", "div-1", vec![json!(1), json!(0)]);

    println!("worker:");
    worker_ready
        .send("celery@rust-worker".to_owned(), &WorkerReadyArgs {})
        .expect("receivers succeed");
    run("tasks.add", "add-1", vec![json!(2), json!(3)], |args| {
        Ok(json!(
            args[0].as_i64().unwrap_or(0) + args[1].as_i64().unwrap_or(0)
        ))
    });
    run("tasks.div", "div-1", vec![json!(1), json!(0)], |args| {
        let divisor = args[1].as_i64().unwrap_or(0);
        if divisor == 0 {
            return Err("ZeroDivisionError: division by zero".into());
        }
        Ok(json!(args[0].as_i64().unwrap_or(0) / divisor))
    });
}
