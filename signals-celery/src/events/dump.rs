//! One line per event, as `celery events --dump` prints them.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use serde_json::Value;

use super::event::Event;

/// How many task ids a [`Dumper`] remembers to name later events of a task
/// (Celery: 4095).
const TASK_NAMES: usize = 0xFFF;

/// Formats events the way `celery events --dump` does, so the output of a Rust
/// monitor reads (and greps) like Celery's:
///
/// ```text
/// w1@host [2026-11-22 10:00:00.250000+00:00] started: active=0, clock=1, freq=2.0, ...
/// w1@host [2026-11-22 10:00:01+00:00] task received: tasks.add(42) args=(2, 2) kwargs={} clock=2, ...
/// w1@host [2026-11-22 10:00:01.500000+00:00] task succeeded: tasks.add(42) args=(2, 2) kwargs={} clock=4, result=4, ...
/// ```
///
/// Worker events are renamed as Celery names them (`started`, `heartbeat`,
/// `shutdown`); a task event is labelled with the name and arguments its
/// `task-received` or `task-sent` event gave (the last 4,095 tasks are
/// remembered); values print as Python prints them (`None`, `True`, `2.0`).
///
/// ```
/// use signals_celery::events::{Dumper, Event};
/// let event: Event = serde_json::from_str(
///     r#"{"hostname": "w1@host", "clock": 3, "uuid": "42", "result": "4",
///         "runtime": 0.5, "timestamp": 0.25, "type": "task-succeeded"}"#,
/// ).unwrap();
/// assert_eq!(
///     Dumper::new().line(&event),
///     "w1@host [1970-01-01 00:00:00.250000+00:00] task succeeded:  clock=3, result=4, runtime=0.5",
/// );
/// ```
#[derive(Debug, Default)]
pub struct Dumper {
    task_names: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Dumper {
    /// A dumper that knows no task yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The line for `event` (without a newline).
    pub fn line(&mut self, event: &Event) -> String {
        let mut fields = event.fields().clone();
        let timestamp = fields
            .remove("timestamp")
            .and_then(|t| t.as_f64())
            .unwrap_or_default();
        let kind = fields
            .remove("type")
            .and_then(|t| t.as_str().map(str::to_lowercase))
            .unwrap_or_default();
        let hostname = fields
            .remove("hostname")
            .map(|h| python_str(&h))
            .unwrap_or_default();
        let mut line = format!(
            "{hostname} [{}] {}",
            utc_datetime(timestamp),
            human_type(&kind)
        );
        let task = kind.starts_with("task-").then(|| {
            let uuid = fields
                .remove("uuid")
                .map(|u| python_str(&u))
                .unwrap_or_default();
            if kind == "task-received" || kind == "task-sent" {
                let mut take = |key: &str| {
                    fields
                        .remove(key)
                        .map(|v| python_str(&v))
                        .unwrap_or_default()
                };
                let (name, args, kwargs) = (take("name"), take("args"), take("kwargs"));
                let label = format!("{name}({uuid}) args={args} kwargs={kwargs}");
                self.remember(uuid, label.clone());
                label
            } else {
                self.task_names.get(&uuid).cloned().unwrap_or_default()
            }
        });
        let mut keys: Vec<&String> = fields.keys().collect();
        keys.sort();
        let mut rest = String::new();
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                rest.push_str(", ");
            }
            let _ = write!(rest, "{key}={}", python_str(&fields[key.as_str()]));
        }
        if !rest.is_empty() {
            line.push(':');
        }
        if let Some(task) = task {
            line.push(' ');
            line.push_str(&task);
        }
        line.push(' ');
        line.push_str(&rest);
        line
    }

    fn remember(&mut self, uuid: String, label: String) {
        if !self.task_names.contains_key(&uuid) {
            if self.order.len() == TASK_NAMES {
                if let Some(oldest) = self.order.pop_front() {
                    self.task_names.remove(&oldest);
                }
            }
            self.order.push_back(uuid.clone());
        }
        self.task_names.insert(uuid, label);
    }
}

/// Celery's `humanize_type`.
fn human_type(kind: &str) -> String {
    match kind {
        "worker-offline" => "shutdown".into(),
        "worker-online" => "started".into(),
        "worker-heartbeat" => "heartbeat".into(),
        other => other.replace('-', " "),
    }
}

/// A value as Python's `str()` prints the decoded JSON value.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => python_repr(other),
    }
}

/// A decoded JSON value as Python's `repr()` prints it: single quotes,
/// `True`, `None`, `1.0` for a whole float. What `celery events --dump` and
/// `celery inspect` show.
///
/// ```
/// use signals_celery::events::python_repr;
///
/// let value = serde_json::json!([true, null, "it's", 2.0]);
/// assert_eq!(python_repr(&value), r#"[True, None, "it's", 2.0]"#);
/// ```
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(n), _, _) => n.to_string(),
            (_, Some(n), _) => n.to_string(),
            (_, _, Some(x)) => python_float(x),
            _ => number.to_string(),
        },
        Value::String(text) => {
            let quote = if text.contains('\'') && !text.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(text.len() + 2);
            out.push(quote);
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(key, value)| {
                    format!(
                        "{}: {}",
                        python_repr(&Value::from(key.as_str())),
                        python_repr(value)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A float as Python's `repr`: shortest round-trip digits, `.0` on whole
/// numbers, exponent from 1e16.
fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x != 0.0 && (x.abs() >= 1e16 || x.abs() < 1e-4) {
        let text = format!("{x:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let text = x.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// `timestamp` as Python prints `datetime.fromtimestamp(ts, timezone.utc)`:
/// whole seconds, and the fraction rounded half to even to microseconds.
fn utc_datetime(timestamp: f64) -> String {
    let mut seconds = timestamp.trunc() as i64;
    let mut micros = (timestamp.fract() * 1e6).round_ties_even() as i64;
    if micros >= 1_000_000 {
        seconds += 1;
        micros -= 1_000_000;
    } else if micros < 0 {
        seconds -= 1;
        micros += 1_000_000;
    }
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    if micros != 0 {
        let _ = write!(text, ".{micros:06}");
    }
    text.push_str("+00:00");
    text
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_values() {
        assert_eq!(python_float(2.0), "2.0");
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1.5e-7), "1.5e-07");
        assert_eq!(
            python_str(&serde_json::json!([0.5, null, true, "a'b"])),
            r#"[0.5, None, True, "a'b"]"#
        );
        assert_eq!(python_str(&serde_json::json!({"x": 1})), "{'x': 1}");
    }

    #[test]
    fn dates() {
        assert_eq!(utc_datetime(0.0), "1970-01-01 00:00:00+00:00");
        assert_eq!(
            utc_datetime(1_795_320_514.5),
            "2026-11-22 04:08:34.500000+00:00"
        );
        assert_eq!(utc_datetime(951_782_400.0), "2000-02-29 00:00:00+00:00");
    }
}
