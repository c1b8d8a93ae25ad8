//! An application that runs tokio hands its runtime to the AMQP transport and
//! subscriber, and no second runtime is started: the hidden I/O thread
//! (`signals-amqp-io`) never appears in the process. Alone in its test binary,
//! so that no other test's transport starts one meanwhile.

#[allow(dead_code)]
#[path = "support/rabbitmq.rs"]
mod rabbitmq;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use signals_celery::events::{
    AmqpOptions, AmqpSubscriber, AmqpSubscriberOptions, AmqpTransport, EventDispatcher,
    EventReceiver, Received, TaskStarted,
};

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc is mounted")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn the_callers_runtime_drives_the_client() {
    let server = rabbitmq::RabbitServer::start();
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("app-runtime")
        .enable_all()
        .build()
        .expect("the application's runtime");

    let mut subscriber = AmqpSubscriber::with_options(
        &url,
        AmqpSubscriberOptions {
            runtime: Some(runtime.handle().clone()),
            ..AmqpSubscriberOptions::default()
        },
    )
    .expect("valid URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(30)));
    let transport = AmqpTransport::with_options(
        &url,
        AmqpOptions {
            runtime: Some(runtime.handle().clone()),
            ..AmqpOptions::default()
        },
    )
    .expect("valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("app@host")
        .build();

    // Sent from a task of the application, flushed in `spawn_blocking`.
    let dispatcher = Arc::new(dispatcher);
    runtime.block_on({
        let dispatcher = Arc::clone(&dispatcher);
        async move {
            for uuid in ["a", "b", "c"] {
                dispatcher
                    .send_event(&TaskStarted { uuid: uuid.into() })
                    .expect("sent");
            }
            tokio::task::spawn_blocking(move || dispatcher.flush(true, true))
                .await
                .expect("joined")
                .expect("confirmed");
        }
    });

    let got = Arc::new(Mutex::new(Vec::new()));
    let receiver = {
        let got = Arc::clone(&got);
        EventReceiver::builder()
            .on(move |event: &Received<TaskStarted>| {
                got.lock().unwrap().push(event.event.uuid.clone());
            })
            .build()
    };
    receiver.capture(&mut subscriber, Some(3), Some(Duration::from_secs(10)));
    assert_eq!(*got.lock().unwrap(), ["a", "b", "c"]);

    let names = thread_names();
    assert!(
        names.iter().any(|name| name == "app-runtime"),
        "the application's runtime runs: {names:?}"
    );
    assert!(
        !names.iter().any(|name| name.starts_with("signals-amqp-io")),
        "no runtime of the transport's own: {names:?}"
    );
    drop(subscriber);
    drop(dispatcher);
}
