//! `rediss://` (feature `redis-tls`): events over TLS to a real `redis-server`
//! started with a certificate of a test CA made here with `openssl`, with a
//! password that never shows in errors.

#[allow(dead_code)] // the file paths serve the RabbitMQ test
#[path = "support/tls.rs"]
mod tls;

use std::time::Duration;

use tls::{TlsRedis, PASSWORD};

use signals_celery::events::{
    EventDispatcher, EventReceiver, RedisOptions, RedisSubscriber, RedisSubscriberOptions,
    RedisTransport, TaskStarted,
};

#[test]
fn events_travel_over_tls_with_a_private_ca() {
    let server = TlsRedis::start();
    let mut subscriber = RedisSubscriber::with_options(
        &server.url(),
        RedisSubscriberOptions {
            tls_root_certificates: Some(server.ca.clone()),
            ..RedisSubscriberOptions::default()
        },
    )
    .expect("valid URL");
    assert!(
        subscriber.wait_subscribed(Duration::from_secs(10)),
        "subscribed over TLS"
    );
    let transport = RedisTransport::with_options(
        &server.url(),
        RedisOptions {
            tls_root_certificates: Some(server.ca.clone()),
            ..RedisOptions::default()
        },
    )
    .expect("valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("tls@host")
        .build();
    for uuid in ["a", "b", "c"] {
        dispatcher
            .send_event(&TaskStarted { uuid: uuid.into() })
            .expect("sent");
    }
    dispatcher.flush(true, true).expect("published over TLS");
    let receiver = EventReceiver::builder().build();
    let report = receiver.capture(&mut subscriber, Some(3), Some(Duration::from_secs(10)));
    assert_eq!(report.events, 3, "{:?}", receiver.stats());
}

#[test]
fn an_untrusted_server_is_refused_and_the_password_stays_hidden() {
    let server = TlsRedis::start();
    // The system's roots do not include the test CA.
    let transport = RedisTransport::with_options(
        &server.url(),
        RedisOptions {
            flush_timeout: Duration::from_millis(800),
            ..RedisOptions::default()
        },
    )
    .expect("valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("tls@host")
        .build();
    dispatcher
        .send_event(&TaskStarted { uuid: "x".into() })
        .expect("queued");
    let error = dispatcher
        .flush(true, true)
        .expect_err("the certificate is not trusted");
    let text = error.to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = errors.clone();
    let mut subscriber = RedisSubscriber::open(&server.url()).expect("valid URL");
    let receiver = EventReceiver::builder()
        .on_error(move |error| log.lock().unwrap().push(error.to_string()))
        .build();
    receiver.capture(&mut subscriber, None, Some(Duration::from_millis(600)));
    let errors = errors.lock().unwrap();
    assert!(!errors.is_empty(), "the subscriber reported the failure");
    assert!(
        errors
            .iter()
            .all(|e| !e.contains(PASSWORD) && e.contains("rediss://:***@")),
        "{errors:?}"
    );
    assert!(!format!("{subscriber:?}").contains(PASSWORD));
}

#[test]
fn bad_root_certificates_are_a_configuration_error() {
    let options = RedisOptions {
        tls_root_certificates: Some(b"not a certificate".to_vec()),
        ..RedisOptions::default()
    };
    let error =
        RedisTransport::with_options(&format!("rediss://:{PASSWORD}@127.0.0.1:1/0"), options)
            .err()
            .expect("refused");
    let text = error.to_string();
    assert!(text.contains("rediss://:***@127.0.0.1:1/0"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}
