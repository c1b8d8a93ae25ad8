//! Bad input never stops a receiver: any body under any content type, as an
//! AMQP or Redis message could carry it, is taken and counted as typed errors
//! (or, if it happens to be an empty list, nothing), never a panic, and the
//! event after it is still handled.
//! Property tests, run by `./test.sh` with the other tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use signals_celery::events::{Delivery, EventReceiver, EventSource, ReceiveError};

/// Hands out scripted deliveries, then nothing.
struct Scripted(VecDeque<Delivery>);

impl EventSource for Scripted {
    fn next_delivery(
        &mut self,
        _timeout: Duration,
        _max_size: usize,
    ) -> Result<Option<Delivery>, ReceiveError> {
        Ok(self.0.pop_front())
    }
}

fn delivery(content_type: &str, body: Vec<u8>) -> Delivery {
    Delivery {
        routing_key: "task.multi".into(),
        content_type: content_type.into(),
        content_encoding: "utf-8".into(),
        delivery_tag: None,
        body,
    }
}

/// Content types a broker may hand over.
fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_owned()),
        Just(String::new()),
        Just("application/x-python-serialize".to_owned()),
        Just("text/plain".to_owned()),
        "[a-z/+.-]{0,30}",
    ]
}

/// Bodies that are not events: raw bytes, text, JSON that is not an event
/// (no string `type`), lists of such, and cut-off events.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        ".{0,200}".prop_map(String::into_bytes),
        Just(b"null".to_vec()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        "[a-z]{0,10}".prop_map(|key| format!("{{\"{key}\": 1}}").into_bytes()),
        any::<i32>().prop_map(|n| format!("{{\"type\": {n}}}").into_bytes()),
        prop::collection::vec(any::<i16>(), 0..20)
            .prop_map(|items| serde_json::to_vec(&items).expect("JSON")),
        (0usize..40).prop_map(|cut| {
            let event = br#"{"type": "task-succeeded", "uuid": "u", "clock": 3}"#;
            event[..cut.min(event.len() - 1)].to_vec()
        }),
        Just(br#"[{"uuid": "no type"}, 5, "x", null]"#.to_vec()),
        Just(br#"{"type": "task-succeeded", "clock": "not a number", "timestamp": []}"#.to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_body_stops_the_receiver(
        bad in prop::collection::vec((content_type(), garbage()), 1..12),
    ) {
        let handled = Arc::new(Mutex::new(Vec::new()));
        let log = handled.clone();
        let receiver = EventReceiver::builder()
            .handler("*", move |event| {
                log.lock().unwrap().push(event.kind().map(str::to_owned));
            })
            .build();
        let count = bad.len() as u64;
        let mut script: VecDeque<Delivery> = bad
            .into_iter()
            .map(|(content_type, body)| delivery(&content_type, body))
            .collect();
        script.push_back(delivery(
            "application/json",
            br#"{"type": "worker-online", "hostname": "w@h", "timestamp": 1.0, "clock": 1}"#
                .to_vec(),
        ));
        let report = receiver.capture(&mut Scripted(script), Some(1), Some(Duration::from_secs(5)));
        let stats = receiver.stats();
        prop_assert_eq!(report.events, 1, "{:?}", stats);
        prop_assert_eq!(stats.messages, count + 1, "every message was taken: {:?}", stats);
        // Errors are counted per message, or per item of a list.
        prop_assert_eq!((stats.handler_panics, stats.source_errors), (0, 0));
        let handled = handled.lock().unwrap();
        prop_assert_eq!(&handled[..], &[Some("worker-online".to_owned())]);
    }
}
