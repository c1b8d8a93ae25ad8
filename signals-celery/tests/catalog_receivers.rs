//! `#[receiver]` across crates: receivers of the Celery catalog's signals,
//! filtered by task name, and a second crate that holds only receivers (the
//! plugin), linked by `use signals_test_plugin as _;`.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

// The plugin crate holds only receivers: without this line nothing of it is
// linked and its receivers are absent (the caveat documented on `receiver`).
use signals_test_plugin as _;

use signals::receiver;
use signals_celery::signals::{task_sent, TaskId, TaskSentArgs};

/// The task ids `on_add_sent` saw.
static ADD_SENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn receivers_from_a_second_crate_are_connected() {
    use signals_test_plugin::{plugin_loaded, PluginLoadedArgs, PLUGIN_TASKS_SEEN};

    let responses = plugin_loaded
        .send(
            "app",
            &PluginLoadedArgs {
                what: "reports".into(),
            },
        )
        .unwrap();
    assert_eq!(responses.values(), ["plugin loaded reports"]);
    assert_eq!(
        responses.ids()[0].name(),
        "signals_test_plugin::describe",
        "a receiver's name is its function's path"
    );

    let before = PLUGIN_TASKS_SEEN.load(Ordering::SeqCst);
    task_sent
        .send(
            "plugin.task",
            &TaskSentArgs::new(TaskId::from("p-1"), "plugin.task"),
        )
        .unwrap();
    task_sent
        .send(
            "other.task",
            &TaskSentArgs::new(TaskId::from("o-1"), "other.task"),
        )
        .unwrap();
    assert_eq!(PLUGIN_TASKS_SEEN.load(Ordering::SeqCst), before + 1);
}

#[receiver(task_sent, sender = "tasks.add")]
fn on_add_sent(task_id: &TaskId, eta: Option<&std::time::SystemTime>) {
    assert!(eta.is_none());
    ADD_SENT.lock().unwrap().push(task_id.as_str().to_owned());
}

#[test]
fn catalog_signals_take_receivers_filtered_by_task_name() {
    task_sent
        .send(
            "tasks.add",
            &TaskSentArgs::new(TaskId::from("a-1"), "tasks.add"),
        )
        .unwrap();
    task_sent
        .send(
            "tasks.mul",
            &TaskSentArgs::new(TaskId::from("m-1"), "tasks.mul"),
        )
        .unwrap();
    assert_eq!(*ADD_SENT.lock().unwrap(), ["a-1"]);
}

#[test]
fn declared_signals_list_the_signals_of_other_crates() {
    let paths: Vec<&str> = signals::declared_signals()
        .iter()
        .map(|signal| signal.path())
        .collect();
    assert!(
        paths.contains(&"signals_celery::signals::task_sent"),
        "signals of other crates are listed: {paths:?}"
    );
    assert!(paths.contains(&"signals_test_plugin::plugin_loaded"));
}
