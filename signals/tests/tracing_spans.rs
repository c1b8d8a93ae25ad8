//! The `tracing-spans` feature: a `signal.send` span per
//! send and a `signal.receiver` span per receiver, captured by a test
//! subscriber; none when the subscriber does not want `DEBUG` spans.
//!
//! One test function: tracing caches per call site whether any subscriber
//! wants it, so subscribers installed by parallel tests could race.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use signals::Signal;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as the subscriber saw it.
#[derive(Clone, Debug, Default)]
struct Captured {
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(u64, Captured)>>>,
    events: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut captured = Captured {
            name: attrs.metadata().name(),
            parent: ctx
                .span_scope(id)
                .and_then(|mut scope| scope.nth(1).map(|p| p.id().into_u64())),
            ..Captured::default()
        };
        attrs.record(&mut Fields(&mut captured.fields));
        self.spans.lock().unwrap().push((id.into_u64(), captured));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, span)) = spans
            .iter_mut()
            .rev()
            .find(|(span, _)| *span == id.into_u64())
        {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(fields);
    }
}

impl Capture {
    fn take(&self) -> Vec<(u64, Captured)> {
        std::mem::take(&mut *self.spans.lock().unwrap())
    }
}

fn field<'a>(span: &'a Captured, name: &str) -> &'a str {
    span.fields
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no field {name} in {span:?}"))
}

#[test]
fn sends_and_receivers_get_spans_only_when_a_subscriber_wants_them() {
    static SAVED: Signal<u32, &'static str, u32> = Signal::new("saved").with_sender_debug();
    let _ = SAVED.connect(|_: &&str, n: &u32| n + 1);
    let _ = SAVED.connect(|_: &&str, n: &u32| -> Result<u32, fmt::Error> {
        if *n == 0 {
            Err(fmt::Error)
        } else {
            Ok(*n)
        }
    });
    let capture = Capture::default();

    // A subscriber at INFO: no span, and the send works as before.
    let info = tracing_subscriber::registry().with(
        capture
            .clone()
            .with_filter(tracing::level_filters::LevelFilter::INFO),
    );
    tracing::subscriber::with_default(info, || {
        assert_eq!(SAVED.send("users", &1).unwrap().values(), [2, 1]);
    });
    assert!(capture.take().is_empty(), "no DEBUG spans were wanted");

    let debug = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(debug, || {
        // send: one span for the send, one per receiver inside it.
        assert_eq!(SAVED.send("users", &1).unwrap().values(), [2, 1]);
        let spans = capture.take();
        assert_eq!(spans.len(), 3, "{spans:?}");
        let (send_id, send) = &spans[0];
        assert_eq!(send.name, "signal.send");
        assert_eq!(field(send, "signal"), "saved");
        assert_eq!(field(send, "call"), "send");
        assert_eq!(field(send, "sender"), "\"users\"");
        assert_eq!(field(send, "receivers"), "2");
        assert_eq!(field(send, "failed"), "0");
        for (_, receiver) in &spans[1..] {
            assert_eq!(receiver.name, "signal.receiver");
            assert_eq!(receiver.parent, Some(*send_id), "inside the send's span");
            assert!(field(receiver, "receiver").contains("{{closure}}"));
            assert_eq!(field(receiver, "outcome"), "ok");
            assert!(field(receiver, "duration_us").parse::<u64>().is_ok());
        }

        // send stopped by an error: the failing receiver's outcome.
        assert!(SAVED.send("users", &0).is_err());
        let spans = capture.take();
        assert_eq!(field(&spans[0].1, "failed"), "1");
        assert_eq!(field(&spans[2].1, "outcome"), "error");

        // send_robust with a panic: recorded as such, and counted.
        let _ = SAVED.connect(|_: &&str, _: &u32| -> u32 { panic!("boom") });
        let outcomes = SAVED.send_robust("users", &0);
        assert_eq!(outcomes.len(), 3);
        let spans = capture.take();
        assert_eq!(field(&spans[0].1, "call"), "send_robust");
        assert_eq!(field(&spans[0].1, "failed"), "2");
        let outcomes: Vec<&str> = spans[1..]
            .iter()
            .map(|(_, s)| field(s, "outcome"))
            .collect();
        assert_eq!(outcomes, ["ok", "error", "panicked"]);

        // asend with an async receiver: one span around the whole send.
        static AWAITED: Signal<u32, &'static str, u32> = Signal::new("awaited");
        let _ = AWAITED.connect_async(async |_: &&'static str, n: &u32| *n);
        let responses = futures_executor::block_on(AWAITED.asend("jobs", &5)).unwrap();
        assert_eq!(responses.values(), [5]);
        let spans = capture.take();
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert_eq!(field(&spans[0].1, "call"), "asend");
        assert_eq!(field(&spans[0].1, "receivers"), "1");
        assert!(
            !spans[0].1.fields.contains_key("sender"),
            "a signal without a sender description records no sender"
        );

        // A send to nobody takes the no-receiver path: no span.
        static EMPTY: Signal<u32> = Signal::new("empty");
        EMPTY.send("users", &1).unwrap();
        assert!(capture.take().is_empty());

        // A deferral scope dropped without commit logs a warning.
        {
            let _tx = signals::defer();
            let _ = SAVED.send_on_commit("users", 9);
        }
        let events = capture.events.lock().unwrap();
        assert!(
            events.iter().any(
                |event| event.get("discarded").map(String::as_str) == Some("1")
                    && event["message"].contains("dropped without commit()")
            ),
            "{events:?}"
        );
    });
}
