//! The linking caveat of `#[receiver]`: this test binary has the plugin crate as
//! a dependency but uses nothing of it, so the crate is not linked and its
//! receivers are absent. (`tests/catalog_receivers.rs` writes `use signals_test_plugin as _;`
//! and sees them.) If this ever fails, the caveat in the docs can go.

use signals_celery::signals::{task_sent, TaskId, TaskSentArgs};

#[test]
fn receivers_of_an_unreferenced_crate_are_absent() {
    assert!(!task_sent.has_listeners("plugin.task"));
    let args = TaskSentArgs::new(TaskId::from("p-1"), "plugin.task");
    assert!(task_sent.send("plugin.task", &args).unwrap().is_empty());
}
