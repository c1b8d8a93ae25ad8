//! The texts many tasks repeat, kept once by the state and shared.
//!
//! A busy cluster runs many tasks of a few names, sent by a few clients to a
//! few queues. Copying each of those texts into every task was an allocation
//! (and later a free) per field per task; sharing them costs a hash lookup,
//! and nothing at all when an event repeats the text the task already has.

use std::sync::Arc;

use super::HashSet;
use crate::events::event_ref::FieldRef;
use crate::events::field_name::FieldName;

/// Texts up to this many bytes are shared whatever the field: short
/// arguments and results (`()`, `{}`, `None`) repeat across tasks, and a
/// lookup costs less than an allocation and its free. Longer ones (a
/// traceback) are each their own allocation.
const SHORT: usize = 16;

/// How many distinct shared texts other than task names are kept. A stream
/// of ever-new texts (a hostname per client process, say) empties the set
/// when it is full: those texts then cost an allocation each, as unshared
/// ones would, and memory stays bounded.
const MAX_SHARED: usize = 4_096;

/// Shared texts: task names, and the other texts tasks repeat (client
/// hostnames, queues, exchanges, routing keys, short texts of any field).
pub(crate) struct Texts {
    /// Every task name seen: Celery's `_seen_types`, which is not bounded
    /// either (`task_types()` lists them).
    names: HashSet<Arc<str>>,
    /// The other texts, bounded by [`MAX_SHARED`].
    shared: HashSet<Arc<str>>,
    /// The text each field was last set to, by field: consecutive tasks
    /// mostly repeat it (the same queue, client, `{}`), and comparing with
    /// it costs less than hashing the text to look it up.
    recent: [Option<Arc<str>>; FieldName::COUNT],
}

impl Texts {
    pub(crate) fn new() -> Self {
        Self {
            names: HashSet::default(),
            shared: HashSet::default(),
            recent: std::array::from_fn(|_| None),
        }
    }

    /// Every task name seen, in no order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|name| &**name)
    }

    /// Sets a task's text `field` to `value`'s text (`None` for `null`):
    /// the name is recorded as seen; the queue, exchange and routing key,
    /// and any short text, are shared; a long text is its own copy.
    #[inline]
    pub(crate) fn set(
        &mut self,
        field: FieldName,
        slot: &mut Option<Arc<str>>,
        value: FieldRef<'_>,
    ) {
        match value.as_text() {
            Some(text) if slot.as_deref() == Some(&*text) => {}
            Some(text) => *slot = Some(self.get(field, &text)),
            None => *slot = None,
        }
    }

    /// The copy of `text`, a value of `field`, to keep: shared unless it is
    /// long and not one of the fields whose texts repeat.
    pub(crate) fn get(&mut self, field: FieldName, text: &str) -> Arc<str> {
        let recent = &mut self.recent[field as usize];
        if let Some(recent) = recent {
            if **recent == *text {
                return Arc::clone(recent);
            }
        }
        let kept = match field {
            FieldName::Name => share(&mut self.names, text, usize::MAX),
            FieldName::Hostname
            | FieldName::Queue
            | FieldName::Exchange
            | FieldName::RoutingKey => share(&mut self.shared, text, MAX_SHARED),
            _ if text.len() <= SHORT => share(&mut self.shared, text, MAX_SHARED),
            _ => return Arc::from(text),
        };
        *recent = Some(Arc::clone(&kept));
        kept
    }
}

/// The copy of `text` in `set`, added if missing (emptying a set that holds
/// `max` texts first).
#[inline]
fn share(set: &mut HashSet<Arc<str>>, text: &str, max: usize) -> Arc<str> {
    match set.get(text) {
        Some(shared) => Arc::clone(shared),
        None => add(set, text, max),
    }
}

#[cold]
fn add(set: &mut HashSet<Arc<str>>, text: &str, max: usize) -> Arc<str> {
    if set.len() >= max {
        set.clear();
    }
    let shared: Arc<str> = Arc::from(text);
    set.insert(Arc::clone(&shared));
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_kept_once_and_the_set_stays_bounded() {
        let mut texts = Texts::new();
        let first = texts.get(FieldName::Queue, "celery");
        let _ = texts.get(FieldName::Queue, "other");
        // Found in the set, not only as the field's last text.
        let again = texts.get(FieldName::Queue, "celery");
        assert!(Arc::ptr_eq(&first, &again));
        for index in 0..MAX_SHARED * 2 {
            let _ = texts.get(FieldName::Hostname, &format!("client-{index}"));
            assert!(texts.shared.len() <= MAX_SHARED);
        }
        // A long text of a field whose texts do not repeat is its own copy.
        let long = "x".repeat(SHORT + 1);
        let one = texts.get(FieldName::Traceback, &long);
        let two = texts.get(FieldName::Traceback, &long);
        assert!(!Arc::ptr_eq(&one, &two));
        assert_eq!(one, two);
        // Texts handed out before the set was emptied stay valid.
        assert_eq!(&*first, "celery");
    }
}
