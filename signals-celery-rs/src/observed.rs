//! [`Observed<T>`]: a celery-rs task that reports its life as Celery's task
//! events, registered in place of the task itself.

use std::time::Instant;

use async_trait::async_trait;
use celery::error::TaskError;
use celery::task::{Request, ResultValue, Task, TaskOptions, TaskResult};
use serde_json::Value;
use signals_celery::events::python_repr;

use crate::observer::{current, Outcome, Received, Shared};

/// The celery-rs task `T`, reporting to the running
/// [`Observer`](crate::Observer): register `Observed<T>` in place of `T`
/// (`tasks = [Observed<add>]` in `celery::app!`, or
/// `app.register_task::<Observed<add>>()`). It keeps `T`'s name, arguments,
/// options and retry policy; Python's `send_task("add", ...)` reaches it
/// as it reached `T`.
///
/// | event | when |
/// |---|---|
/// | `task-received` | celery-rs builds the task from the message it took (before any ETA wait) |
/// | `task-started` | the task's `run` begins |
/// | `task-succeeded` | `run` returned `Ok`: the result as Python's `repr` of its JSON, and the runtime |
/// | `task-retried` | `run` failed and celery-rs will run it again (by the same rule it applies: the error's kind, `retry_for_unexpected`, `max_retries`) |
/// | `task-failed` | `run` failed for the last time, or timed out on its last try |
///
/// The task's time limit is applied here, around `T`'s `run`, rather than by
/// celery-rs around this wrapper, so that a task cut by it still reports its
/// end (as `TimeoutError`).
///
/// With no observer running, it is `T` and nothing more.
pub struct Observed<T: Task + 'static> {
    inner: T,
    request: Request<Self>,
    options: TaskOptions,
    observer: Option<std::sync::Arc<Shared>>,
    /// The parameters as Python's positional arguments and their `repr`,
    /// worked out once (only with an observer).
    args: (Value, String),
}

impl<T: Task + 'static> Observed<T> {
    /// The wrapped task.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The request as the events carry it.
    fn received(&self) -> Received<'_> {
        Received {
            uuid: &self.request.id,
            name: T::NAME,
            args: &self.args.0,
            args_repr: &self.args.1,
            kwargs_repr: "{}".to_owned(),
            retries: self.request.retries,
            eta: self.request.eta.map(|eta| eta.to_rfc3339()),
            expires: self.request.expires.map(|expires| expires.to_rfc3339()),
        }
    }

    /// Whether celery-rs runs the task again after `error` (its tracer's
    /// rule).
    fn will_retry(&self, error: &TaskError) -> bool {
        let retries = match error {
            TaskError::UnexpectedError(_) => self.inner.retry_for_unexpected(),
            TaskError::ExpectedError(_) | TaskError::TimeoutError | TaskError::Retry(_) => true,
        };
        retries
            && self
                .inner
                .max_retries()
                .is_none_or(|max| self.request.retries < max)
    }
}

/// The parameters as Python's positional arguments: the JSON list in
/// `names`' order, and its `repr` (a tuple).
fn positional_args(params: &Value, names: &[&str]) -> (Value, String) {
    let values: Vec<Value> = match params {
        Value::Object(fields) => names
            .iter()
            .map(|name| fields.get(*name).cloned().unwrap_or(Value::Null))
            .collect(),
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    let mut repr = String::from("(");
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            repr.push_str(", ");
        }
        repr.push_str(&python_repr(value));
    }
    if values.len() == 1 {
        repr.push(',');
    }
    repr.push(')');
    (Value::Array(values), repr)
}

/// A task error as Celery's events carry an exception: `Kind('reason')`,
/// and the error's text as the traceback.
fn exception(error: &TaskError) -> (String, String) {
    let (kind, reason) = match error {
        TaskError::ExpectedError(reason) => ("ExpectedError", reason.as_str()),
        TaskError::UnexpectedError(reason) => ("UnexpectedError", reason.as_str()),
        TaskError::TimeoutError => ("TimeoutError", "task timed out"),
        TaskError::Retry(_) => ("Retry", "task retry triggered"),
    };
    (
        format!("{kind}({})", python_repr(&Value::String(reason.to_owned()))),
        error.to_string(),
    )
}

#[async_trait]
impl<T: Task + 'static> Task for Observed<T> {
    const NAME: &'static str = T::NAME;
    const ARGS: &'static [&'static str] = T::ARGS;
    const DEFAULTS: TaskOptions = T::DEFAULTS;

    type Params = T::Params;
    type Returns = T::Returns;

    fn from_request(request: Request<Self>, options: TaskOptions) -> Self {
        let inner = T::from_request(
            Request {
                app: request.app.clone(),
                id: request.id.clone(),
                group: request.group.clone(),
                chord: request.chord.clone(),
                correlation_id: request.correlation_id.clone(),
                params: request.params.clone(),
                origin: request.origin.clone(),
                retries: request.retries,
                eta: request.eta,
                expires: request.expires,
                hostname: request.hostname.clone(),
                reply_to: request.reply_to.clone(),
                time_limit: request.time_limit,
            },
            options,
        );
        let observer = current();
        let args = match &observer {
            Some(_) => positional_args(
                &serde_json::to_value(&request.params).unwrap_or(Value::Null),
                T::ARGS,
            ),
            None => (Value::Null, String::new()),
        };
        let observed = Self {
            inner,
            request,
            options,
            observer,
            args,
        };
        if let Some(observer) = &observed.observer {
            observer.received(&observed.received());
        }
        observed
    }

    fn request(&self) -> &Request<Self> {
        &self.request
    }

    fn options(&self) -> &TaskOptions {
        &self.options
    }

    async fn run(&self, params: Self::Params) -> TaskResult<Self::Returns> {
        if let Some(observer) = &self.observer {
            observer.started(&self.received());
        }
        let started = Instant::now();
        let result = match self.inner.time_limit() {
            Some(seconds) => tokio::time::timeout(
                std::time::Duration::from_secs(u64::from(seconds)),
                self.inner.run(params),
            )
            .await
            .unwrap_or(Err(TaskError::TimeoutError)),
            None => self.inner.run(params).await,
        };
        if let Some(observer) = &self.observer {
            let outcome = match &result {
                Ok(returned) => Outcome::Succeeded {
                    result: returned
                        .to_json_value()
                        .map_or_else(|_| format!("{returned:?}"), |value| python_repr(&value)),
                    runtime: started.elapsed().as_secs_f64(),
                },
                Err(error) => {
                    let (exception, traceback) = exception(error);
                    if self.will_retry(error) {
                        Outcome::Retried {
                            exception,
                            traceback,
                        }
                    } else {
                        Outcome::Failed {
                            exception,
                            traceback,
                        }
                    }
                }
            };
            observer.finished(&self.request.id, T::NAME, outcome);
        }
        result
    }

    async fn on_failure(&self, error: &TaskError) {
        self.inner.on_failure(error).await;
    }

    async fn on_success(&self, returned: &Self::Returns) {
        self.inner.on_success(returned).await;
    }

    fn retry_eta(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.inner.retry_eta()
    }

    fn retry_for_unexpected(&self) -> bool {
        self.inner.retry_for_unexpected()
    }

    /// `None`: the limit is applied inside [`run`](Self::run).
    fn time_limit(&self) -> Option<u32> {
        None
    }

    fn max_retries(&self) -> Option<u32> {
        self.inner.max_retries()
    }

    fn min_retry_delay(&self) -> u32 {
        self.inner.min_retry_delay()
    }

    fn max_retry_delay(&self) -> u32 {
        self.inner.max_retry_delay()
    }

    fn acks_late(&self) -> bool {
        self.inner.acks_late()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_read_as_pythons_positional_arguments() {
        let (args, repr) = positional_args(&json!({"y": 3, "x": 2}), &["x", "y"]);
        assert_eq!(args, json!([2, 3]));
        assert_eq!(repr, "(2, 3)");
        assert_eq!(positional_args(&json!({"s": "a"}), &["s"]).1, "('a',)");
        assert_eq!(positional_args(&Value::Null, &[]).1, "()");
    }

    #[test]
    fn errors_read_as_exceptions() {
        let (exception, traceback) = exception(&TaskError::ExpectedError("it's down".into()));
        assert_eq!(exception, "ExpectedError(\"it's down\")");
        assert_eq!(traceback, "task raised expected error: it's down");
        assert_eq!(
            exception_kind(&TaskError::TimeoutError),
            "TimeoutError('task timed out')"
        );
    }

    fn exception_kind(error: &TaskError) -> String {
        exception(error).0
    }
}
