//! `celeryscope inspect`: Celery's `celery inspect COMMAND`, with its
//! `--timeout`, `--destination` and `--json`, and its output: `->  node: OK`
//! and the indented reply for each worker as it answers, then `N nodes
//! online.`; with `--json`, every reply in one JSON object.

use std::fmt::Write as _;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value};
use signals_celery::events::python_repr;

use crate::broker::Control;

/// The inspect commands a Celery worker (and our `control::Node`) answers.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Method {
    Ping,
    Stats,
    Active,
    Reserved,
    Scheduled,
    Revoked,
    Registered,
    ActiveQueues,
    Conf,
    Clock,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Stats => "stats",
            Self::Active => "active",
            Self::Reserved => "reserved",
            Self::Scheduled => "scheduled",
            Self::Revoked => "revoked",
            Self::Registered => "registered",
            Self::ActiveQueues => "active_queues",
            Self::Conf => "conf",
            Self::Clock => "clock",
        }
    }
}

/// `celery inspect`'s options.
#[derive(Args, Clone, Debug)]
pub(crate) struct InspectOptions {
    #[command(flatten)]
    pub(crate) broker: crate::broker::BrokerArgs,
    /// The command to send.
    #[arg(value_enum)]
    pub(crate) method: Method,
    /// Timeout in seconds waiting for reply.
    #[arg(short = 't', long, default_value_t = 1.0)]
    pub(crate) timeout: f64,
    /// Comma separated list of destination node names.
    #[arg(short = 'd', long)]
    pub(crate) destination: Option<String>,
    /// Use json as output format.
    #[arg(short = 'j', long)]
    pub(crate) json: bool,
}

/// `EX_UNAVAILABLE`: what `celery inspect` exits with when nobody replied.
const EX_UNAVAILABLE: u8 = 69;

pub(crate) fn run(options: &InspectOptions) -> Result<(), String> {
    let timeout = Duration::try_from_secs_f64(options.timeout)
        .map_err(|_| format!("--timeout: {} is not a number of seconds", options.timeout))?;
    let control = Control::open(&options.broker.url, None, options.broker.failover()?)
        .map_err(|error| error.to_string())?;
    let destination: Option<Vec<&str>> = options
        .destination
        .as_deref()
        .map(|names| names.split(',').map(str::trim).collect());
    let replies = control
        .broadcast(
            options.method.name(),
            Map::new(),
            destination.as_deref(),
            timeout,
        )
        .map_err(|error| format!("inspect {}: {error}", options.method.name()))?;
    if replies.is_empty() {
        eprintln!("Error: No nodes replied within time constraint");
        std::process::exit(i32::from(EX_UNAVAILABLE));
    }
    if options.json {
        let all: Map<String, Value> = replies.into_iter().collect();
        println!("{}", python_json(&Value::Object(all)));
        return Ok(());
    }
    for (node, reply) in &replies {
        print!("{}", say_reply(node, reply));
    }
    let count = replies.len();
    println!(
        "\n{count} {} online.",
        if count == 1 { "node" } else { "nodes" }
    );
    Ok(())
}

/// One worker's reply as `celery inspect` prints it.
pub(crate) fn say_reply(node: &str, reply: &Value) -> String {
    let (status, body) = pretty(reply);
    let mut out = format!("->  {node}: {status}\n");
    let _ = writeln!(out, "{}", indent(&body, 4));
    out
}

/// Celery's `CLIMixin.pretty`: a status and the text.
fn pretty(reply: &Value) -> (&'static str, String) {
    match reply {
        Value::Array(items) if items.is_empty() => ("OK", "- empty -".to_owned()),
        Value::Array(items) => (
            "OK",
            items
                .iter()
                .map(|item| format!("* {}", python_str(item)))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Value::Object(fields) if fields.contains_key("ok") => {
            ("OK", indent(&pretty(&fields["ok"]).1, 4))
        }
        Value::Object(fields) if fields.contains_key("error") => {
            ("ERROR", indent(&pretty(&fields["error"]).1, 4))
        }
        Value::Object(_) => ("OK", sorted_indented_json(reply)),
        Value::String(text) => ("OK", text.clone()),
        other => ("OK", python_str(other)),
    }
}

/// `textwrap.indent`-like: `by` spaces before every non-empty line.
fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.split('\n')
        .map(|line| {
            if line.trim().is_empty() {
                line.to_owned()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `json.dumps(value, sort_keys=True, indent=4)`.
fn sorted_indented_json(value: &Value) -> String {
    fn write(out: &mut String, value: &Value, depth: usize) {
        let pad = |depth: usize| "    ".repeat(depth);
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                let mut keys: Vec<&String> = fields.keys().collect();
                keys.sort();
                out.push_str("{\n");
                for (at, key) in keys.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    out.push_str(&python_json(&Value::String((*key).clone())));
                    out.push_str(": ");
                    write(out, &fields[*key], depth + 1);
                    out.push_str(if at + 1 < keys.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(depth));
                out.push('}');
            }
            Value::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (at, item) in items.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    write(out, item, depth + 1);
                    out.push_str(if at + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(depth));
                out.push(']');
            }
            other => out.push_str(&python_json(other)),
        }
    }
    let mut out = String::new();
    write(&mut out, value, 0);
    out
}

/// `json.dumps(value)`: Python's separators (`", "`, `": "`), non-ASCII
/// escaped.
pub(crate) fn python_json(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => python_number(number),
        Value::String(text) => {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            let _ = write!(out, "\\u{unit:04x}");
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(key, value)| format!(
                    "{}: {}",
                    python_json(&Value::String(key.clone())),
                    python_json(value)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A float as Python writes it (`1.0`, not `1`).
fn python_number(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if number.is_f64() && float.fract() == 0.0 && float.abs() < 1e16 => {
            format!("{float:.1}")
        }
        _ => number.to_string(),
    }
}

/// Python's `str()` of a decoded JSON value (a list item of a reply).
fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => python_repr(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_print_as_celery_inspect_prints_them() {
        assert_eq!(
            say_reply("w@h", &json!({"ok": "pong"})),
            "->  w@h: OK\n        pong\n"
        );
        assert_eq!(say_reply("w@h", &json!([])), "->  w@h: OK\n    - empty -\n");
        assert_eq!(
            say_reply("w@h", &json!(["tasks.add", "tasks.mul"])),
            "->  w@h: OK\n    * tasks.add\n    * tasks.mul\n"
        );
        assert_eq!(
            say_reply("w@h", &json!({"b": 1, "a": [true, null]})),
            "->  w@h: OK\n    {\n        \"a\": [\n            true,\n            null\n        ],\n        \"b\": 1\n    }\n"
        );
        assert_eq!(
            say_reply(
                "w@h",
                &json!([{"acknowledged": true}, {"worker_pid": null}])
            ),
            "->  w@h: OK\n    * {'acknowledged': True}\n    * {'worker_pid': None}\n"
        );
        assert_eq!(
            say_reply("w@h", &json!({"error": "KeyError('x')"})),
            "->  w@h: ERROR\n        KeyError('x')\n"
        );
    }

    #[test]
    fn json_output_uses_pythons_separators() {
        assert_eq!(
            python_json(&json!({"w@h": {"n": [1, 2.0, "pong", null]}})),
            r#"{"w@h": {"n": [1, 2.0, "pong", null]}}"#
        );
        assert_eq!(python_json(&json!("é")), r#""\u00e9""#);
    }
}
