//! The metrics and their two text formats, written as Python's
//! `prometheus_client` writes them, so a scrape of ours reads like a scrape
//! of celery-exporter: the same family and sample names, the labels in the
//! order they were declared, Python's float text (`1.0`, `1.7e+09`), the
//! `_created` series, and OpenMetrics when the scraper asks for it.
//!
//! A family holds at most [`MAX_SERIES`] series: a label value past that
//! bound is not recorded (and counted in [`Registry::dropped`]), so memory
//! stays bounded whatever the traffic.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// The most series one family keeps.
pub(crate) const MAX_SERIES: usize = 10_000;

/// What a family measures.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    /// With its upper bounds, `+Inf` last.
    Histogram(Vec<f64>),
}

/// One series' value.
#[derive(Clone, Debug)]
enum Value {
    Number(f64),
    Histogram {
        /// Per bucket, not cumulative.
        buckets: Vec<u64>,
        sum: f64,
    },
}

#[derive(Clone, Debug)]
struct Series {
    value: Value,
    created: f64,
}

/// A metric family: its name (prefix applied), help, kind, label names and
/// series by label values, in the order they were first seen.
#[derive(Debug)]
pub(crate) struct Family {
    name: String,
    help: String,
    kind: Kind,
    labels: Vec<String>,
    /// Positions in `order` by a hash of the label values (each candidate
    /// compared in full), so that a lookup borrows the values it is given.
    /// The key is a hash already: foldhash mixes it in one multiply, where
    /// std's SipHash would cost more than the comparison.
    series: HashMap<u64, Vec<usize>, foldhash::fast::FixedState>,
    order: Vec<(Vec<String>, Series)>,
}

/// The hash `Family::series` is keyed by.
fn key_of<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    for value in values {
        hasher.write(value.as_ref().as_bytes());
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

/// The hash of a set of label values: computed once for a set that is
/// looked up in several families (a task event's counters and histograms).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LabelsKey(u64);

impl LabelsKey {
    pub(crate) fn of<S: AsRef<str>>(values: &[S]) -> Self {
        Self(key_of(values))
    }
}

/// Whether stored label values equal the ones asked for.
fn same<S: AsRef<str>>(stored: &[String], values: &[S]) -> bool {
    stored.len() == values.len()
        && stored
            .iter()
            .zip(values)
            .all(|(stored, value)| stored == value.as_ref())
}

impl Family {
    /// The position of the series with `values`.
    fn position<S: AsRef<str>>(&self, key: u64, values: &[S]) -> Option<usize> {
        self.series
            .get(&key)?
            .iter()
            .copied()
            .find(|&at| same(&self.order[at].0, values))
    }
}

/// Which family, once registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FamilyId(usize);

/// Every family, in registration order.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    families: Vec<Family>,
    dropped: u64,
}

/// The text format a scrape asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl Format {
    /// What `Accept` asks for, as `prometheus_client.choose_encoder` reads
    /// it: OpenMetrics if any accepted type is `application/openmetrics-text`.
    pub(crate) fn negotiate(accept: Option<&str>) -> Self {
        let asks = accept.is_some_and(|accept| {
            accept
                .split(',')
                .any(|part| part.trim().starts_with("application/openmetrics-text"))
        });
        if asks {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

impl Registry {
    pub(crate) fn register(
        &mut self,
        name: String,
        help: &str,
        kind: Kind,
        labels: Vec<String>,
    ) -> FamilyId {
        self.families.push(Family {
            name,
            help: help.to_owned(),
            kind,
            labels,
            series: HashMap::default(),
            order: Vec::new(),
        });
        FamilyId(self.families.len() - 1)
    }

    /// Series not recorded because their family was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// How many series `family` holds.
    #[cfg(test)]
    pub(crate) fn len(&self, family: FamilyId) -> usize {
        self.families[family.0].order.len()
    }

    /// The series of `family` with `values` (whose hash is `key`), created
    /// at zero if new; `None` when the family is full.
    fn series<S: AsRef<str>>(
        &mut self,
        family: FamilyId,
        LabelsKey(key): LabelsKey,
        values: &[S],
    ) -> Option<&mut Series> {
        let family_ref = &mut self.families[family.0];
        debug_assert_eq!(values.len(), family_ref.labels.len(), "{}", family_ref.name);
        debug_assert_eq!(key, key_of(values));
        if let Some(at) = family_ref.position(key, values) {
            return Some(&mut family_ref.order[at].1);
        }
        if family_ref.order.len() >= MAX_SERIES {
            self.dropped += 1;
            return None;
        }
        let value = match &family_ref.kind {
            Kind::Histogram(bounds) => Value::Histogram {
                buckets: vec![0; bounds.len()],
                sum: 0.0,
            },
            Kind::Counter | Kind::Gauge => Value::Number(0.0),
        };
        let at = family_ref.order.len();
        family_ref.series.entry(key).or_default().push(at);
        family_ref.order.push((
            values
                .iter()
                .map(|value| value.as_ref().to_owned())
                .collect(),
            Series {
                value,
                created: now(),
            },
        ));
        family_ref.order.last_mut().map(|(_, series)| series)
    }

    /// Whether `family` has the series with `values` (whose hash is `key`).
    pub(crate) fn contains_keyed<S: AsRef<str>>(
        &self,
        family: FamilyId,
        LabelsKey(key): LabelsKey,
        values: &[S],
    ) -> bool {
        let family = &self.families[family.0];
        family.position(key, values).is_some()
    }

    /// Adds `by` to a counter (0 makes the series appear).
    pub(crate) fn inc<S: AsRef<str>>(&mut self, family: FamilyId, values: &[S], by: f64) {
        self.inc_keyed(family, LabelsKey::of(values), values, by);
    }

    /// [`inc`](Self::inc), with the values' hash computed already.
    pub(crate) fn inc_keyed<S: AsRef<str>>(
        &mut self,
        family: FamilyId,
        key: LabelsKey,
        values: &[S],
        by: f64,
    ) {
        if let Some(Series {
            value: Value::Number(value),
            ..
        }) = self.series(family, key, values)
        {
            *value += by;
        }
    }

    /// Sets a gauge.
    pub(crate) fn set<S: AsRef<str>>(&mut self, family: FamilyId, values: &[S], to: f64) {
        if let Some(Series {
            value: Value::Number(value),
            ..
        }) = self.series(family, LabelsKey::of(values), values)
        {
            *value = to;
        }
    }

    /// Observes `sample` in a histogram.
    #[cfg(test)]
    pub(crate) fn observe<S: AsRef<str>>(&mut self, family: FamilyId, values: &[S], sample: f64) {
        self.observe_keyed(family, LabelsKey::of(values), values, sample);
    }

    /// Observes `sample` in a histogram, with the values' hash computed
    /// already.
    pub(crate) fn observe_keyed<S: AsRef<str>>(
        &mut self,
        family: FamilyId,
        key: LabelsKey,
        values: &[S],
        sample: f64,
    ) {
        let Kind::Histogram(bounds) = &self.families[family.0].kind else {
            return;
        };
        let bucket = bounds
            .iter()
            .position(|bound| sample <= *bound)
            .unwrap_or(bounds.len() - 1);
        if let Some(Series {
            value: Value::Histogram { buckets, sum },
            ..
        }) = self.series(family, key, values)
        {
            buckets[bucket] += 1;
            *sum += sample;
        }
    }

    /// The value of a counter or gauge series, if it exists.
    #[cfg(test)]
    pub(crate) fn get(&self, family: FamilyId, values: &[String]) -> Option<f64> {
        let family = &self.families[family.0];
        let at = family.position(key_of(values), values)?;
        match family.order[at].1.value {
            Value::Number(value) => Some(value),
            Value::Histogram { .. } => None,
        }
    }

    /// Removes every series, in every family, that has `value` as one of its
    /// label values (celery-exporter's purge of an offline worker).
    pub(crate) fn remove_with_value(&mut self, value: &str) {
        for family in &mut self.families {
            let before = family.order.len();
            family
                .order
                .retain(|(values, _)| !values.iter().any(|label| label == value));
            if family.order.len() != before {
                family.series.clear();
                for (at, (values, _)) in family.order.iter().enumerate() {
                    family.series.entry(key_of(values)).or_default().push(at);
                }
            }
        }
    }

    /// The whole registry in `format`.
    pub(crate) fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        for family in &self.families {
            match format {
                Format::Text => family.encode_text(&mut out),
                Format::OpenMetrics => family.encode_openmetrics(&mut out),
            }
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

impl Family {
    fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        }
    }

    /// The samples of one series: (suffix, extra label, value).
    fn samples(&self, series: &Series) -> Vec<(&'static str, Option<String>, f64)> {
        match (&series.value, &self.kind) {
            (Value::Number(value), Kind::Counter) => vec![("_total", None, *value)],
            (Value::Number(value), _) => vec![("", None, *value)],
            (Value::Histogram { buckets, sum }, Kind::Histogram(bounds)) => {
                let mut samples = Vec::with_capacity(bounds.len() + 2);
                let mut cumulative = 0;
                for (bound, count) in bounds.iter().zip(buckets) {
                    cumulative += count;
                    samples.push(("_bucket", Some(go_float(*bound)), cumulative as f64));
                }
                samples.push(("_count", None, cumulative as f64));
                samples.push(("_sum", None, *sum));
                samples
            }
            (Value::Histogram { .. }, _) => Vec::new(),
        }
    }

    fn has_created(&self) -> bool {
        matches!(self.kind, Kind::Counter | Kind::Histogram(_))
    }

    fn encode_text(&self, out: &mut String) {
        let shown = match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            _ => self.name.clone(),
        };
        let _ = writeln!(out, "# HELP {shown} {}", escape_help(&self.help));
        let _ = writeln!(out, "# TYPE {shown} {}", self.type_name());
        for (values, series) in &self.order {
            for (suffix, le, value) in self.samples(series) {
                self.sample(out, suffix, values, le.as_deref(), value);
            }
        }
        if self.has_created() && !self.order.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {}_created {}",
                self.name,
                escape_help(&self.help)
            );
            let _ = writeln!(out, "# TYPE {}_created gauge", self.name);
            for (values, series) in &self.order {
                self.sample(out, "_created", values, None, series.created);
            }
        }
    }

    fn encode_openmetrics(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(&self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.type_name());
        for (values, series) in &self.order {
            for (suffix, le, value) in self.samples(series) {
                self.sample(out, suffix, values, le.as_deref(), value);
            }
            if self.has_created() {
                self.sample(out, "_created", values, None, series.created);
            }
        }
    }

    fn sample(
        &self,
        out: &mut String,
        suffix: &str,
        values: &[String],
        le: Option<&str>,
        value: f64,
    ) {
        out.push_str(&self.name);
        out.push_str(suffix);
        let mut pairs: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(String::as_str)
            .zip(values.iter().map(String::as_str))
            .collect();
        if let Some(le) = le {
            pairs.push(("le", le));
        }
        if !pairs.is_empty() {
            out.push('{');
            for (at, (name, value)) in pairs.iter().enumerate() {
                if at > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{name}=\"{}\"", escape_value(value));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {}", go_float(value));
    }
}

/// A float as `prometheus_client.utils.floatToGoString` writes it: Python's
/// `repr`, with an exponent past six integer digits.
pub(crate) fn go_float(value: f64) -> String {
    if value == f64::INFINITY {
        return "+Inf".into();
    }
    if value == f64::NEG_INFINITY {
        return "-Inf".into();
    }
    if value.is_nan() {
        return "NaN".into();
    }
    let repr = python_repr(value);
    let Some(dot) = repr.find('.') else {
        return repr;
    };
    if value > 0.0 && dot > 6 {
        let digits = format!("{}{}", &repr[1..dot], &repr[dot + 1..]);
        let mantissa = format!("{}.{digits}", &repr[..1]);
        let mantissa = mantissa.trim_end_matches(['0', '.']);
        return format!("{mantissa}e+0{}", dot - 1);
    }
    repr
}

/// Python's `repr` of a float in the range a metric takes: the shortest
/// text that reads back, `.0` on whole numbers; exponents from 1e16.
fn python_repr(value: f64) -> String {
    if value.abs() >= 1e16 || (value != 0.0 && value.abs() < 1e-4) {
        let text = format!("{value:e}");
        // Rust writes `1e16` and `1.5e-5`; Python `1e+16` and `1.5e-05`.
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ("-", digits),
            None => ("+", exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = format!("{value}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', r"\\").replace('\n', r"\n")
}

fn escape_value(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('\n', r"\n")
        .replace('"', "\\\"")
}

/// Seconds since the epoch.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    #[test]
    fn floats_are_written_as_python_prometheus_client_writes_them() {
        for (value, text) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (1800.0, "1800.0"),
            (123456.0, "123456.0"),
            (1234567.0, "1.234567e+06"),
            (1_733_222_123.456, "1.733222123456e+09"),
            (1_700_000_000.0, "1.7e+09"),
            (f64::INFINITY, "+Inf"),
            (-3.0, "-3.0"),
            (0.00001, "1e-05"),
        ] {
            assert_eq!(go_float(value), text, "{value}");
        }
    }

    #[test]
    fn text_format_has_total_created_and_declared_label_order() {
        let mut registry = Registry::default();
        let sent = registry.register(
            "celery_task_sent".into(),
            "Sent when a task message is published.",
            Kind::Counter,
            labels(&["name", "hostname", "queue_name"]),
        );
        registry.inc(sent, &labels(&["tasks.add", "h\"1", "celery"]), 1.0);
        let text = registry.encode(Format::Text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# HELP celery_task_sent_total Sent when a task message is published."
        );
        assert_eq!(lines[1], "# TYPE celery_task_sent_total counter");
        assert_eq!(
            lines[2],
            r#"celery_task_sent_total{name="tasks.add",hostname="h\"1",queue_name="celery"} 1.0"#
        );
        assert_eq!(lines[4], "# TYPE celery_task_sent_created gauge");
        assert!(lines[5].starts_with("celery_task_sent_created{name=\"tasks.add\""));
        let open = registry.encode(Format::OpenMetrics);
        assert!(open.starts_with("# HELP celery_task_sent Sent"), "{open}");
        assert!(open.contains("# TYPE celery_task_sent counter\n"));
        assert!(open.ends_with("# EOF\n"));
    }

    #[test]
    fn histograms_are_cumulative_with_count_and_sum() {
        let mut registry = Registry::default();
        let runtime = registry.register(
            "celery_task_runtime".into(),
            "Histogram of task runtime measurements.",
            Kind::Histogram(vec![0.1, 1.0, f64::INFINITY]),
            labels(&["name"]),
        );
        for sample in [0.05, 0.5, 0.7, 5.0] {
            registry.observe(runtime, &labels(&["t"]), sample);
        }
        let text = registry.encode(Format::Text);
        for line in [
            r#"celery_task_runtime_bucket{name="t",le="0.1"} 1.0"#,
            r#"celery_task_runtime_bucket{name="t",le="1.0"} 3.0"#,
            r#"celery_task_runtime_bucket{name="t",le="+Inf"} 4.0"#,
            r#"celery_task_runtime_count{name="t"} 4.0"#,
            r#"celery_task_runtime_sum{name="t"} 6.25"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn a_full_family_drops_new_series_and_a_purge_removes_a_hosts_series() {
        let mut registry = Registry::default();
        let up = registry.register("up".into(), "Up.", Kind::Gauge, labels(&["hostname"]));
        for n in 0..MAX_SERIES + 5 {
            registry.set(up, &[format!("host-{n}")], 1.0);
        }
        assert_eq!(registry.len(up), MAX_SERIES);
        assert_eq!(registry.dropped(), 5);
        registry.remove_with_value("host-3");
        assert_eq!(registry.len(up), MAX_SERIES - 1);
        assert_eq!(registry.get(up, &labels(&["host-3"])), None);
        assert_eq!(registry.get(up, &labels(&["host-4"])), Some(1.0));
    }

    #[test]
    fn accept_headers_choose_the_format() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
