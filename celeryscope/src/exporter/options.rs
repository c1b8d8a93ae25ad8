//! celery-exporter 0.12's command line: every flag with its name, default
//! and meaning, and its `CE_*` environment variable (click's
//! `auto_envvar_prefix="CE"`), so a Helm chart's `args:` and `env:` work
//! unchanged.

use std::collections::BTreeMap;

use clap::Args;

/// `prometheus_client`'s default buckets, celery-exporter's `--buckets`.
const DEFAULT_BUCKETS: &str =
    "0.005,0.01,0.025,0.05,0.075,0.1,0.25,0.5,0.75,1.0,2.5,5.0,7.5,10.0,inf";
/// celery-exporter's queue wait buckets: near zero for healthy queues, up to
/// half an hour for a backlog.
const DEFAULT_QUEUE_WAIT_BUCKETS: &str = "0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600,1800,inf";

/// Serves Prometheus metrics of a Celery cluster: a drop-in for
/// celery-exporter (same flags, `CE_*` variables, metrics and labels).
#[derive(Args, Clone, Debug)]
pub(crate) struct ExporterOptions {
    /// The url to the broker, e.g redis://1.2.3.4
    #[arg(long, env = "CE_BROKER_URL")]
    pub(crate) broker_url: String,
    /// Celery broker transport option, e.g visibility_timeout=18000
    /// (repeatable; read here: global_keyprefix, priority_steps, sep,
    /// fanout_prefix, exchange names)
    #[arg(long = "broker-transport-option", value_name = "KEY=VALUE")]
    pub(crate) broker_transport_option: Vec<String>,
    /// Celery broker ssl option, e.g certfile=/var/ssl/amqp-server-cert.pem
    /// (repeatable; read here: ca_certs)
    #[arg(long = "broker-ssl-option", value_name = "KEY=VALUE")]
    pub(crate) broker_ssl_option: Vec<String>,
    /// Celery accept content options, e.g 'json,pickle' (events are JSON;
    /// accepted for compatibility)
    #[arg(long, env = "CE_ACCEPT_CONTENT")]
    pub(crate) accept_content: Option<String>,
    /// Broker exception retry interval in seconds; 0 reconnects at once
    /// with a backoff of 0.1 s doubling to 2 s
    #[arg(long, env = "CE_RETRY_INTERVAL", default_value_t = 0.0)]
    pub(crate) retry_interval: f64,
    /// The host the exporter will listen on
    #[arg(long, env = "CE_HOST", default_value = "0.0.0.0")]
    pub(crate) host: String,
    /// The port the exporter will listen on
    #[arg(long, env = "CE_PORT", default_value_t = 9808)]
    pub(crate) port: u16,
    /// Buckets for runtime histogram
    #[arg(long, env = "CE_BUCKETS", default_value = DEFAULT_BUCKETS)]
    pub(crate) buckets: String,
    /// Buckets for queue wait time histogram. celery_task_queue_wait_time
    /// requires task_send_sent_event to be enabled on the client
    #[arg(long, env = "CE_QUEUE_WAIT_BUCKETS", default_value = DEFAULT_QUEUE_WAIT_BUCKETS)]
    pub(crate) queue_wait_buckets: String,
    /// TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL
    #[arg(long, env = "CE_LOG_LEVEL", default_value = "INFO")]
    pub(crate) log_level: String,
    /// If no heartbeat has been received from a worker in this many
    /// seconds, that worker is considered dead. If set to 0, workers are
    /// never timed out
    #[arg(long, env = "CE_WORKER_TIMEOUT", default_value_t = 5 * 60)]
    pub(crate) worker_timeout: u64,
    /// Metrics of a worker not heard from in this many seconds are purged.
    /// If set to 0, metrics are never purged
    #[arg(long, env = "CE_PURGE_OFFLINE_WORKER_METRICS", default_value_t = 10 * 60)]
    pub(crate) purge_offline_worker_metrics: u64,
    /// celery_task_sent_total is labeled with a generic hostname (fewer
    /// series when many clients send tasks)
    #[arg(long, env = "CE_GENERIC_HOSTNAME_TASK_SENT_METRIC")]
    pub(crate) generic_hostname_task_sent_metric: bool,
    /// The celery_task_* counters and celery_task_runtime are labeled with
    /// a generic hostname instead of the executing worker's
    #[arg(long, env = "CE_GENERIC_HOSTNAME_WORKER_TASK_METRIC")]
    pub(crate) generic_hostname_worker_task_metric: bool,
    /// A comma separated list of queues to force metrics to appear for
    #[arg(short = 'Q', long, env = "CE_QUEUES")]
    pub(crate) queues: Option<String>,
    /// Prefix all metrics with a string (replaces `celery_`)
    #[arg(long, env = "CE_METRIC_PREFIX", default_value = "celery_")]
    pub(crate) metric_prefix: String,
    /// task_default_queue option for celery: the queue_name label of a
    /// task whose queue is not known
    #[arg(long, env = "CE_DEFAULT_QUEUE_NAME", default_value = "celery")]
    pub(crate) default_queue_name: String,
    /// Add label with static value to all metrics, e.g. env=prod
    /// (repeatable)
    #[arg(long = "static-label", value_name = "KEY=VALUE")]
    pub(crate) static_label: Vec<String>,
}

/// A flag's value that celery-exporter would reject.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum OptionError {
    #[error("--{flag}: `{value}` is not KEY=VALUE")]
    NotKeyValue { flag: &'static str, value: String },
    #[error("--{flag}: `{value}` is not a number")]
    NotANumber { flag: &'static str, value: String },
    #[error("--{flag}: the buckets must be in increasing order")]
    Unordered { flag: &'static str },
    #[error("--static-label: `{0}` is not a valid label name")]
    LabelName(String),
    #[error("--metric-prefix: `{0}` makes invalid metric names")]
    Prefix(String),
    #[error("--retry-interval: must be 0 or more seconds, not {0}")]
    RetryInterval(f64),
    #[error(
        "--log-level: `{0}` is not one of TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR, CRITICAL"
    )]
    LogLevel(String),
}

/// The options, checked and parsed.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) buckets: Vec<f64>,
    pub(crate) queue_wait_buckets: Vec<f64>,
    pub(crate) queues: Vec<String>,
    pub(crate) static_labels: Vec<(String, String)>,
    pub(crate) transport_options: BTreeMap<String, String>,
    pub(crate) ssl_options: BTreeMap<String, String>,
    pub(crate) log_level: tracing::Level,
}

impl ExporterOptions {
    /// Reads the repeatable options from their `CE_*` variables when none
    /// was given on the command line (click splits them on whitespace), then
    /// checks everything.
    pub(crate) fn settings(&mut self) -> Result<Settings, OptionError> {
        for (values, variable) in [
            (
                &mut self.broker_transport_option,
                "CE_BROKER_TRANSPORT_OPTION",
            ),
            (&mut self.broker_ssl_option, "CE_BROKER_SSL_OPTION"),
            (&mut self.static_label, "CE_STATIC_LABEL"),
        ] {
            if values.is_empty() {
                if let Ok(text) = std::env::var(variable) {
                    values.extend(text.split_whitespace().map(str::to_owned));
                }
            }
        }
        if !(self.retry_interval >= 0.0 && self.retry_interval.is_finite()) {
            return Err(OptionError::RetryInterval(self.retry_interval));
        }
        if !valid_name(&format!("{}task_sent", self.metric_prefix)) {
            return Err(OptionError::Prefix(self.metric_prefix.clone()));
        }
        let mut static_labels = Vec::new();
        for (key, value) in pairs("static-label", &self.static_label)? {
            if !valid_name(&key) || key.starts_with("__") {
                return Err(OptionError::LabelName(key));
            }
            // A repeated key keeps its last value, as a Python dict does.
            static_labels.retain(|(existing, _): &(String, String)| *existing != key);
            static_labels.push((key, value));
        }
        Ok(Settings {
            buckets: buckets("buckets", &self.buckets)?,
            queue_wait_buckets: buckets("queue-wait-buckets", &self.queue_wait_buckets)?,
            queues: self
                .queues
                .as_deref()
                .map(|queues| queues.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            static_labels,
            transport_options: pairs("broker-transport-option", &self.broker_transport_option)?
                .into_iter()
                .collect(),
            ssl_options: pairs("broker-ssl-option", &self.broker_ssl_option)?
                .into_iter()
                .collect(),
            log_level: log_level(&self.log_level)?,
        })
    }
}

/// `KEY=VALUE` pairs (split at the first `=`, as celery-exporter does).
fn pairs(flag: &'static str, values: &[String]) -> Result<Vec<(String, String)>, OptionError> {
    values
        .iter()
        .map(|value| {
            value
                .split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| OptionError::NotKeyValue {
                    flag,
                    value: value.clone(),
                })
        })
        .collect()
}

/// Comma-separated bucket bounds, `+Inf` added last if missing (as
/// `prometheus_client`'s `Histogram` does).
fn buckets(flag: &'static str, text: &str) -> Result<Vec<f64>, OptionError> {
    let mut bounds = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let bound = match part.to_ascii_lowercase().as_str() {
            "inf" | "+inf" => f64::INFINITY,
            _ => part.parse::<f64>().map_err(|_| OptionError::NotANumber {
                flag,
                value: part.to_owned(),
            })?,
        };
        if bound.is_nan() {
            return Err(OptionError::NotANumber {
                flag,
                value: part.to_owned(),
            });
        }
        bounds.push(bound);
    }
    if bounds.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(OptionError::Unordered { flag });
    }
    if bounds.last() != Some(&f64::INFINITY) {
        bounds.push(f64::INFINITY);
    }
    Ok(bounds)
}

/// loguru's levels, as tracing's.
fn log_level(text: &str) -> Result<tracing::Level, OptionError> {
    Ok(match text.to_ascii_uppercase().as_str() {
        "TRACE" => tracing::Level::TRACE,
        "DEBUG" => tracing::Level::DEBUG,
        "INFO" | "SUCCESS" => tracing::Level::INFO,
        "WARNING" | "WARN" => tracing::Level::WARN,
        "ERROR" | "CRITICAL" => tracing::Level::ERROR,
        _ => return Err(OptionError::LogLevel(text.to_owned())),
    })
}

/// A Prometheus metric or label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        options: ExporterOptions,
    }

    fn parse(args: &[&str]) -> Result<Settings, OptionError> {
        let mut cli = Cli::try_parse_from(["exporter"].iter().chain(args)).expect("parses");
        cli.options.settings()
    }

    #[test]
    fn defaults_are_celery_exporters() {
        let cli = Cli::try_parse_from(["exporter", "--broker-url", "redis://h"]).expect("parses");
        let options = cli.options;
        assert_eq!((options.host.as_str(), options.port), ("0.0.0.0", 9808));
        assert_eq!(options.worker_timeout, 300);
        assert_eq!(options.purge_offline_worker_metrics, 600);
        assert_eq!(options.metric_prefix, "celery_");
        assert_eq!(options.default_queue_name, "celery");
        assert_eq!(options.retry_interval, 0.0);
        let settings = parse(&["--broker-url", "redis://h"]).expect("valid");
        assert_eq!(settings.buckets.len(), 15);
        assert_eq!(settings.buckets[0], 0.005);
        assert_eq!(settings.queue_wait_buckets[13], 1800.0);
        assert!(settings.queues.is_empty());
    }

    #[test]
    fn repeatable_and_list_flags_parse_as_celery_exporter_reads_them() {
        let settings = parse(&[
            "--broker-url",
            "redis://h",
            "-Q",
            "celery,priority",
            "--static-label",
            "env=prod",
            "--static-label",
            "team=a=b",
            "--broker-transport-option",
            "global_keyprefix=app:",
            "--buckets",
            "0.5,1,5",
        ])
        .expect("valid");
        assert_eq!(settings.queues, ["celery", "priority"]);
        assert_eq!(
            settings.static_labels,
            [("env".into(), "prod".into()), ("team".into(), "a=b".into())]
        );
        assert_eq!(settings.transport_options["global_keyprefix"], "app:");
        assert_eq!(settings.buckets, [0.5, 1.0, 5.0, f64::INFINITY]);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for (args, error) in [
            (
                vec!["--static-label", "novalue"],
                OptionError::NotKeyValue {
                    flag: "static-label",
                    value: "novalue".into(),
                },
            ),
            (
                vec!["--static-label", "bad-name=x"],
                OptionError::LabelName("bad-name".into()),
            ),
            (
                vec!["--buckets", "1,x"],
                OptionError::NotANumber {
                    flag: "buckets",
                    value: "x".into(),
                },
            ),
            (
                vec!["--buckets", "5,1"],
                OptionError::Unordered { flag: "buckets" },
            ),
            (
                vec!["--metric-prefix", "my-app"],
                OptionError::Prefix("my-app".into()),
            ),
            (
                vec!["--log-level", "LOUD"],
                OptionError::LogLevel("LOUD".into()),
            ),
        ] {
            let mut all = vec!["--broker-url", "redis://h"];
            all.extend(args);
            assert_eq!(parse(&all).unwrap_err(), error);
        }
    }
}
