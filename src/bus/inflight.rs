//! Delivery tracking: which messages still wait in (or are being handled from) some
//! subscription queue. Sharded so that concurrent publishers do not meet on one lock.
//!
//! One id may stand for several envelopes: an event broadcast to the message channels
//! shares its id with the message copies, so waiting for the id waits for all of them.
//! Envelopes that are not tracked (replayed history) are ignored here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use crate::bus::message::Envelope;
use crate::id::MessageId;
use crate::sync::{Condvar, Mutex, Ordering};

const SHARDS: usize = 16;

/// Hashes a message id by folding its bytes (FxHash's multiply): ids are random v4
/// UUIDs made by the library, so SipHash's protection against chosen keys buys nothing
/// here and costs two hashes per published message. (`wait_delivered` looks up ids the
/// caller chooses, but never inserts them.)
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // The length prefix of the 16-byte array: always the same, nothing to mix in.
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
struct ShardState {
    /// Id → envelopes with that id still in flight.
    ids: HashMap<MessageId, usize, BuildHasherDefault<IdHasher>>,
    waiters: usize,
}

#[derive(Default)]
struct Shard {
    state: Mutex<ShardState>,
    changed: Condvar,
}

pub(crate) struct Inflight {
    shards: [Shard; SHARDS],
}

impl Inflight {
    pub fn new() -> Self {
        Inflight { shards: Default::default() }
    }

    fn shard(&self, id: MessageId) -> &Shard {
        // v4 UUIDs are random in their last byte.
        &self.shards[id.as_bytes()[15] as usize % SHARDS]
    }

    /// Starts tracking `env`, which is about to be offered to `routes` queues.
    pub fn begin(&self, env: &Envelope, routes: usize) {
        debug_assert!(routes > 0);
        if !env.tracked {
            return;
        }
        env.pending.store(routes, Ordering::Release);
        *self.shard(env.id()).state.lock().ids.entry(env.id()).or_insert(0) += 1;
    }

    /// One queue is done with `env` (handled, failed, filtered, expired, dropped or
    /// cleared). The last one makes the message delivered.
    pub fn complete(&self, env: &Envelope) {
        if !env.tracked {
            return;
        }
        if env.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let shard = self.shard(env.id());
            let mut st = shard.state.lock();
            if let Some(n) = st.ids.get_mut(&env.id()) {
                *n -= 1;
                if *n == 0 {
                    st.ids.remove(&env.id());
                }
            }
            if st.waiters > 0 {
                shard.changed.notify_all();
            }
        }
    }

    /// Waits until `id` is no longer in flight. `false` when `deadline` came first.
    pub fn wait(&self, id: MessageId, deadline: Instant) -> bool {
        let shard = self.shard(id);
        let mut st = shard.state.lock();
        st.waiters += 1;
        let delivered = loop {
            if !st.ids.contains_key(&id) {
                break true;
            }
            if shard.changed.wait_until(&mut st, deadline).timed_out() {
                break !st.ids.contains_key(&id);
            }
        };
        st.waiters -= 1;
        delivered
    }

    /// How many messages are in flight.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.state.lock().ids.len()).sum()
    }
}
