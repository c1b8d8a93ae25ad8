//! The dispatcher's buffers: events waiting for their group's batch, and events
//! waiting for the broker. Bounded, and nothing in them is dropped unless the
//! user chose [`Overflow::DropOldest`], which is then counted.

use std::collections::VecDeque;

/// What a full buffer does with one more event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse the new event: `send` returns
    /// [`EventError::BufferFull`](super::EventError::BufferFull) and the caller
    /// keeps it. Nothing already accepted is ever dropped.
    #[default]
    Reject,
    /// Drop the oldest events waiting for the broker to make room (or, if none is
    /// waiting there, the new event), logging a warning.
    DropOldest,
}

/// Events ready to publish as one message.
pub(crate) struct Pending {
    pub(crate) routing_key: Box<str>,
    pub(crate) body: Vec<u8>,
    /// How many events the body holds (more than one for a `.multi` batch).
    pub(crate) events: usize,
}

/// One group's events, serialized back to back.
#[derive(Default)]
pub(crate) struct GroupBuffer {
    pub(crate) bytes: Vec<u8>,
    /// Where each event ends in `bytes`.
    pub(crate) ends: Vec<usize>,
}

impl GroupBuffer {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The serialized events, in order.
    pub(crate) fn items(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }
}

/// Both buffers, with the bound they share.
pub(crate) struct Buffers {
    /// Events whose publish failed (or that wait for the dispatcher to reopen).
    pub(crate) outbound: VecDeque<Pending>,
    /// Per-group batches (`buffer_group`), in first-use order.
    pub(crate) groups: Vec<(Box<str>, GroupBuffer)>,
    /// Events in `outbound` and `groups`.
    held: usize,
    /// Events a flush took out and has not settled yet: still counted against the
    /// capacity, so a flush that puts them back cannot overflow.
    in_flight: usize,
    capacity: usize,
    overflow: Overflow,
    overflowed: u64,
}

/// The buffer is full and the policy refused the event.
pub(crate) struct Full;

impl Buffers {
    pub(crate) fn new(capacity: usize, overflow: Overflow) -> Self {
        Self {
            outbound: VecDeque::new(),
            groups: Vec::new(),
            held: 0,
            in_flight: 0,
            capacity,
            overflow,
            overflowed: 0,
        }
    }

    /// Events held (not counting those a flush is publishing).
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Events refused or dropped because the buffer was full.
    pub(crate) fn overflowed(&self) -> u64 {
        self.overflowed
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `events` more fit under the capacity (events in flight count).
    fn fits(&self, events: usize) -> bool {
        self.held + self.in_flight + events <= self.capacity
    }

    /// Makes room for `events` more, as the overflow policy says.
    pub(crate) fn admit(&mut self, events: usize) -> Result<(), Full> {
        if self.fits(events) {
            return Ok(());
        }
        self.overflow_slow(events)
    }

    #[cold]
    #[inline(never)]
    fn overflow_slow(&mut self, events: usize) -> Result<(), Full> {
        if self.overflow == Overflow::DropOldest {
            let mut dropped = 0;
            while !self.fits(events) {
                let Some(oldest) = self.outbound.pop_front() else {
                    break;
                };
                self.held -= oldest.events;
                dropped += oldest.events;
            }
            if dropped > 0 {
                self.overflowed += dropped as u64;
                tracing::warn!(
                    dropped,
                    capacity = self.capacity,
                    "event buffer full: dropped the oldest events"
                );
            }
            if self.fits(events) {
                return Ok(());
            }
            tracing::warn!(
                capacity = self.capacity,
                "event buffer full: dropped a new event"
            );
        }
        self.overflowed += events as u64;
        Err(Full)
    }

    /// Adds an admitted message at the back of the outbound buffer.
    pub(crate) fn push_outbound(&mut self, pending: Pending) {
        self.held += pending.events;
        self.outbound.push_back(pending);
    }

    /// The buffer of `group`, made on first use.
    pub(crate) fn group(&mut self, group: &str) -> &mut GroupBuffer {
        let index = match self.groups.iter().position(|(name, _)| &**name == group) {
            Some(index) => index,
            None => {
                self.groups.push((group.into(), GroupBuffer::default()));
                self.groups.len() - 1
            }
        };
        &mut self.groups[index].1
    }

    /// Counts an event just written into a group buffer.
    pub(crate) fn note_grouped(&mut self) {
        self.held += 1;
    }

    /// Takes what a flush publishes: the outbound messages (if `errors`), then
    /// each non-empty group as one batch (if `groups`). They count as in flight
    /// until [`settle`](Self::settle).
    pub(crate) fn take(
        &mut self,
        errors: bool,
        groups: bool,
        batch: impl Fn(&GroupBuffer, &mut Vec<u8>),
    ) -> Vec<Pending> {
        let mut taken: Vec<Pending> = Vec::new();
        if errors {
            taken.extend(self.outbound.drain(..));
        }
        if groups {
            for (name, buffer) in &mut self.groups {
                if buffer.len() == 0 {
                    continue; // Celery <= 5.6 published empty groups as `[]`.
                }
                let mut body = Vec::with_capacity(buffer.bytes.len() + 2 * buffer.len() + 2);
                batch(buffer, &mut body);
                taken.push(Pending {
                    routing_key: format!("{name}.multi").into(),
                    body,
                    events: buffer.len(),
                });
                buffer.bytes.clear();
                buffer.ends.clear();
            }
        }
        let events: usize = taken.iter().map(|pending| pending.events).sum();
        self.held -= events;
        self.in_flight += events;
        taken
    }

    /// Ends a flush that took `taken_events`: what could not be published goes
    /// back to the front of the outbound buffer, in its order.
    pub(crate) fn settle(&mut self, taken_events: usize, unpublished: Vec<Pending>) {
        self.in_flight -= taken_events;
        for pending in unpublished.into_iter().rev() {
            self.held += pending.events;
            self.outbound.push_front(pending);
        }
    }

    /// Moves outbound messages from `other` while they fit; returns how many
    /// events moved.
    pub(crate) fn take_from(&mut self, other: &mut Buffers) -> usize {
        let mut moved = 0;
        while let Some(pending) = other.outbound.pop_front() {
            if !self.fits(pending.events) {
                other.outbound.push_front(pending);
                break;
            }
            other.held -= pending.events;
            moved += pending.events;
            self.push_outbound(pending);
        }
        moved
    }
}
