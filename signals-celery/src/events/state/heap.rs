//! The time index of task events: Celery's `_taskheap`, a sorted list of
//! `(clock, timestamp, origin, task)` bounded at 4 entries per task.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

/// One task event's place in time (kombu's `timetuple`).
#[derive(Clone, Debug)]
pub(crate) struct TimeTuple {
    pub(crate) clock: u64,
    pub(crate) timestamp: f64,
    /// The sender's id: the client's hostname, or the worker's `host.pid`.
    pub(crate) origin: Arc<str>,
    pub(crate) uuid: Arc<str>,
}

impl TimeTuple {
    /// kombu's `timetuple.__lt__`: by clock when both have one (equal clocks
    /// by origin), else by timestamp.
    fn before(&self, other: &Self) -> bool {
        if self.clock != 0 && other.clock != 0 {
            match self.clock.cmp(&other.clock) {
                Ordering::Equal => self.origin < other.origin,
                ordering => ordering == Ordering::Less,
            }
        } else {
            self.timestamp < other.timestamp
        }
    }
}

/// The sorted, bounded list.
pub(crate) struct TaskHeap {
    entries: VecDeque<TimeTuple>,
    max: usize,
}

impl TaskHeap {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Inserts in order, first dropping the oldest entry at the bound.
    pub(crate) fn insert(&mut self, entry: TimeTuple) {
        let len = self.entries.len();
        if len + 1 > self.max {
            self.entries.pop_front();
        }
        match self.entries.back() {
            // Most events are later than the last one.
            Some(last) if len > 0 && last.before(&entry) => self.entries.push_back(entry),
            _ => {
                // `bisect.insort`: after every entry not greater than it.
                let index = self.entries.partition_point(|e| !entry.before(e));
                self.entries.insert(index, entry);
            }
        }
    }

    /// The tasks' ids, newest entry first (with repeats).
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries.iter().rev().map(|entry| &entry.uuid)
    }
}
