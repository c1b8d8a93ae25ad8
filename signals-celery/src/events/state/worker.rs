//! A worker as the cluster state knows it: its last fields and heartbeats.

use std::sync::Arc;

use super::{Named, NamedField};
use crate::events::event::now;
use crate::events::event_ref::FieldRef;
use crate::events::field_name::FieldName;

/// How many heartbeats a worker keeps (Celery's `Worker.heartbeat_max`).
pub const HEARTBEAT_MAX: usize = 4;

/// A worker is alive until its last heartbeat plus this percentage of its
/// heartbeat interval (Celery's `HEARTBEAT_EXPIRE_WINDOW`).
pub const HEARTBEAT_EXPIRE_WINDOW: f64 = 200.0;

/// A drift over this many seconds between an event's timestamp and its
/// arrival logs "Substantial drift" (Celery's `HEARTBEAT_DRIFT_MAX`).
pub const HEARTBEAT_DRIFT_MAX: i64 = 16;

/// A worker: the fields of its last `worker-*` event and its last heartbeats.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Worker {
    /// Its node name (`celery@host`), shared with the tasks it ran.
    pub hostname: Arc<str>,
    /// Its process id.
    pub pid: Option<u64>,
    /// Seconds between heartbeats (60 until an event says).
    pub freq: f64,
    /// The times of its last heartbeats (at most [`HEARTBEAT_MAX`]), oldest
    /// first: the arrival time of `worker-*` events, the timestamp of task
    /// events from it (as Celery records them).
    pub heartbeats: Vec<f64>,
    /// Its Lamport clock, as last reported.
    pub clock: u64,
    /// Tasks running, as last reported.
    pub active: Option<u64>,
    /// Tasks processed, as last reported.
    pub processed: Option<u64>,
    /// Load averages, as last reported.
    pub loadavg: Option<Vec<f64>>,
    /// Software name (`py-celery`).
    pub sw_ident: Option<String>,
    /// `hostname.pid`, kept with the pid (the time index's sender id).
    pub(crate) id: Arc<str>,
    /// Software version.
    pub sw_ver: Option<String>,
    /// Operating system.
    pub sw_sys: Option<String>,
}

impl Worker {
    pub(crate) fn new(hostname: Arc<str>) -> Self {
        Self {
            id: Self::id_of(&hostname, None),
            hostname,
            pid: None,
            freq: 60.0,
            heartbeats: Vec::new(),
            clock: 0,
            active: None,
            processed: None,
            loadavg: None,
            sw_ident: None,
            sw_ver: None,
            sw_sys: None,
        }
    }

    /// When the worker stops counting as alive: its last heartbeat plus
    /// twice its interval. `None` with no heartbeat.
    pub fn heartbeat_expires(&self) -> Option<f64> {
        let last = self.heartbeats.last()?;
        Some(last + self.freq * (HEARTBEAT_EXPIRE_WINDOW / 100.0))
    }

    /// Whether the worker counts as alive at `now` (seconds since the epoch).
    pub fn alive_at(&self, now: f64) -> bool {
        self.heartbeat_expires()
            .is_some_and(|expires| now < expires)
    }

    /// Whether the worker counts as alive now.
    pub fn alive(&self) -> bool {
        self.alive_at(now())
    }

    /// `hostname.pid`, Celery's `Worker.id` (`hostname.None` without a pid).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn id_of(hostname: &str, pid: Option<u64>) -> Arc<str> {
        match pid {
            Some(pid) => format!("{hostname}.{pid}").into(),
            None => format!("{hostname}.None").into(),
        }
    }

    /// Copies a `worker-*` event's fields.
    pub(crate) fn update(&mut self, event: &Named<'_>) {
        for &NamedField { value, name: field } in event {
            match field {
                FieldName::Pid => {
                    let pid = value.as_u64();
                    if pid != self.pid {
                        self.pid = pid;
                        self.id = Self::id_of(&self.hostname, pid);
                    }
                }
                FieldName::Freq => self.freq = value.as_f64().unwrap_or(self.freq),
                FieldName::Clock => self.clock = value.as_u64().unwrap_or(0),
                FieldName::Active => self.active = value.as_u64(),
                FieldName::Processed => self.processed = value.as_u64(),
                FieldName::Loadavg => {
                    self.loadavg = value.decode::<Vec<serde_json::Value>>().ok().map(|values| {
                        values
                            .iter()
                            .filter_map(serde_json::Value::as_f64)
                            .collect()
                    })
                }
                FieldName::SwIdent => set_str(&mut self.sw_ident, value),
                FieldName::SwVer => set_str(&mut self.sw_ver, value),
                FieldName::SwSys => set_str(&mut self.sw_sys, value),
                _ => {}
            }
        }
    }

    /// Records a heartbeat at `at`, an event sent at `sent`: Celery's
    /// `Worker.event` past its fields. Returns the drift in whole seconds
    /// when it is over [`HEARTBEAT_DRIFT_MAX`].
    pub(crate) fn heartbeat(&mut self, at: f64, sent: f64) -> Option<i64> {
        // Celery skips a zero time as it skips a missing one.
        if at == 0.0 || sent == 0.0 {
            return None;
        }
        let drift = ((at as i64) - (sent as i64)).abs();
        let beats = self.heartbeats.len();
        if beats > HEARTBEAT_MAX - 1 {
            self.heartbeats.remove(0);
        }
        match self.heartbeats.last() {
            Some(&last) if beats > 0 && at > last => self.heartbeats.push(at),
            _ => {
                // `bisect.insort`: after any equal time.
                let index = self.heartbeats.partition_point(|&beat| beat <= at);
                self.heartbeats.insert(index, at);
            }
        }
        (drift > HEARTBEAT_DRIFT_MAX).then_some(drift)
    }
}

/// Sets a text field, allocating only when the text changed.
fn set_str(slot: &mut Option<String>, value: FieldRef<'_>) {
    match value.as_str() {
        Some(text) if slot.as_deref() == Some(&*text) => {}
        text => *slot = text.map(std::borrow::Cow::into_owned),
    }
}
