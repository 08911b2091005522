//! A bounded queue with four priority lanes, and the overflow policies.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::bus::message::Priority;
use crate::error::Error;

/// What a full subscription queue does with one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum OverflowPolicy {
    /// Evict the oldest message of the lowest non-empty lane whose priority is not above
    /// the new message's; if every queued message outranks the new one, drop the new one.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
    /// Drop the new message and make the publish call report `QueueFull`.
    Reject,
    /// Make the publisher wait for room, up to the subscription's block timeout, then drop
    /// the new message.
    Block,
}

impl OverflowPolicy {
    /// All policies.
    pub const ALL: [OverflowPolicy; 4] =
        [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest, OverflowPolicy::Reject, OverflowPolicy::Block];

    /// The name as used in JSON and PowerShell.
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowPolicy::DropOldest => "DropOldest",
            OverflowPolicy::DropNewest => "DropNewest",
            OverflowPolicy::Reject => "Reject",
            OverflowPolicy::Block => "Block",
        }
    }

    /// Parses a policy name, ignoring case.
    pub(crate) fn parse(s: &str) -> Result<Self, ()> {
        OverflowPolicy::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s)).ok_or(())
    }
}

impl FromStr for OverflowPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        OverflowPolicy::parse(s)
            .map_err(|_| Error::invalid("overflow", s, "use DropOldest, DropNewest, Reject or Block"))
    }
}

impl fmt::Display for OverflowPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Four FIFO lanes, one per priority. Capacity is enforced by the owner.
pub(crate) struct Lanes<T> {
    lanes: [VecDeque<T>; 4],
    len: usize,
}

impl<T> Lanes<T> {
    pub fn new() -> Self {
        Lanes { lanes: Default::default(), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, priority: Priority, item: T) {
        self.lanes[priority.lane()].push_back(item);
        self.len += 1;
    }

    /// The next message to hand out: the oldest of the highest non-empty lane.
    /// The item `pop` would return, left in place.
    pub fn peek(&self) -> Option<&T> {
        self.lanes.iter().rev().find_map(VecDeque::front)
    }

    pub fn pop(&mut self) -> Option<T> {
        let item = self.lanes.iter_mut().rev().find_map(VecDeque::pop_front)?;
        self.len -= 1;
        Some(item)
    }

    /// Makes room for a message of `priority`: removes the oldest message of the lowest
    /// non-empty lane not above `priority`. `None` when every queued message outranks it.
    pub fn evict_for(&mut self, priority: Priority) -> Option<T> {
        let item = self.lanes[..=priority.lane()].iter_mut().find_map(VecDeque::pop_front)?;
        self.len -= 1;
        Some(item)
    }

    /// Removes the items for which `remove` is true, appending them to `out`.
    pub fn extract(&mut self, mut remove: impl FnMut(&T) -> bool, out: &mut Vec<T>) {
        for lane in &mut self.lanes {
            if !lane.iter().any(&mut remove) {
                continue;
            }
            let mut keep = VecDeque::with_capacity(lane.len());
            for item in lane.drain(..) {
                if remove(&item) {
                    out.push(item);
                } else {
                    keep.push_back(item);
                }
            }
            *lane = keep;
        }
        self.len = self.lanes.iter().map(VecDeque::len).sum();
    }

    pub fn drain_all(&mut self, out: &mut Vec<T>) {
        for lane in &mut self.lanes {
            out.extend(lane.drain(..));
        }
        self.len = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.lanes.iter().flat_map(VecDeque::iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Priority::*;

    fn drain(q: &mut Lanes<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn pops_by_priority_then_fifo() {
        let mut q = Lanes::new();
        q.push(Low, "l1");
        q.push(Normal, "n1");
        q.push(Critical, "c1");
        q.push(High, "h1");
        q.push(Normal, "n2");
        q.push(Critical, "c2");
        assert_eq!(q.len(), 6);
        assert_eq!(drain(&mut q), ["c1", "c2", "h1", "n1", "n2", "l1"]);
        assert!(q.is_empty());
    }

    #[test]
    fn eviction_takes_oldest_of_lowest_lane_not_above_new() {
        let mut q = Lanes::new();
        q.push(High, "h1");
        q.push(Normal, "n1");
        q.push(Normal, "n2");
        assert_eq!(q.evict_for(Critical), Some("n1"));
        assert_eq!(q.evict_for(Low), None, "everything queued outranks Low");
        q.push(Low, "l1");
        assert_eq!(q.evict_for(Normal), Some("l1"));
        assert_eq!(q.evict_for(High), Some("n2"));
        assert_eq!(q.evict_for(High), Some("h1"));
        assert!(q.is_empty());
    }

    #[test]
    fn extract_removes_matching_and_keeps_order() {
        let mut q = Lanes::new();
        for (p, s) in [(Normal, "a1"), (Normal, "b1"), (High, "a2"), (Normal, "a3"), (Normal, "b2")] {
            q.push(p, s);
        }
        let mut out = Vec::new();
        q.extract(|s| s.starts_with('a'), &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q), ["b1", "b2"]);
    }

    #[test]
    fn policy_names_parse_case_insensitively() {
        assert_eq!("dropnewest".parse::<OverflowPolicy>().unwrap(), OverflowPolicy::DropNewest);
        assert!("sometimes".parse::<OverflowPolicy>().is_err());
    }
}
