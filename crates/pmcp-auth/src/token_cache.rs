//! The verified-token cache: tokens that passed every check, so the same token sent again (an MCP
//! host sends one token on every request until it expires) is accepted without another signature
//! verification. What a hit still checks, and what makes an entry unusable, is the validator's
//! business (see `JwtValidator::validate`); this module is the bounded concurrent map.
//!
//! # Structure
//!
//! A fixed array of slots, grouped in sets of [`WAYS`] (set-associative, like a CPU cache). A
//! token's hash picks its set; it can live in any slot of that set. Each slot is an
//! [`ArcSwapOption`] of an immutable [`Entry`]. So:
//!
//! - **The bound is structural:** at most one entry per slot, and the slot count is fixed when the
//!   validator is built. A flood of distinct valid tokens replaces entries; it cannot add any.
//!   Failed tokens are never inserted, so garbage does not touch the cache at all.
//! - **No lock, no shared write on a hit:** a lookup reads at most [`WAYS`] slots through
//!   `arc-swap` (which records its reader in a thread-local slot, not in the shared entry) and
//!   compares. The only write a hit may do is setting the entry's `referenced` flag once, when it
//!   is not set yet; a hot token's flag stays set, so two cores hitting it do not fight over a
//!   cache line.
//! - **Eviction** (on insert only, into the token's set): an empty slot, else an entry that can no
//!   longer be used (verified under an older key set, or expired beyond the leeway), else a
//!   second-chance ("clock") choice: entries used since the last sweep are spared once, so a flood
//!   of one-time tokens passes through without pushing out the tokens that keep coming back.
//!
//! Why not a general-purpose concurrent cache crate: the ones that fit (`quick_cache`'s sync cache,
//! `moka`) lock a shard (a read lock is still an atomic write to the shard's lock word) and bump a
//! reference count or an access record on every hit. With every request carrying the same token,
//! all cores hit the same shard and the same entry, and those writes bounce one cache line between
//! the cores. Our entries are immutable and the bound is a count of slots, so a fixed table of
//! `arc-swap` slots (already a dependency, for the key cache) does it with reads only, in about a
//! hundred lines.
//!
//! # Keys
//!
//! The key is the whole token. The hash only chooses the set: foldhash (its `quality` variant,
//! keyed per process) over the token's length and its last [`HASHED_TAIL`] bytes, which are the
//! signature — a function of the whole signed input, so distinct valid tokens spread evenly, and
//! the keyed hash gives an outsider no way to aim at a set. A hit requires the stored token to be
//! equal to the presented one over its full length, compared in constant time
//! ([`aws_lc_rs::constant_time::verify_slices_are_equal`]), so neither a hash collision nor a
//! timing difference can turn a different token into a hit.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::{ArcSwapOption, Guard};
use foldhash::quality::RandomState;

/// Slots per set.
pub(crate) const WAYS: usize = 4;

/// How many bytes at the end of the token are hashed (the signature's last base64url characters).
pub(crate) const HASHED_TAIL: usize = 32;

/// Tokens longer than this are not cached (they are validated in full every time), which bounds
/// an entry's size: the token, plus its claims parsed.
pub(crate) const MAX_CACHED_TOKEN_BYTES: usize = 8 * 1024;

/// What an entry stores: it carries the token it was stored under (trimmed, without `Bearer `),
/// so the token and the value can share one allocation.
pub(crate) trait Keyed {
    fn token(&self) -> &str;
}

/// One verified token.
pub(crate) struct Entry<V> {
    /// The set-choosing hash (compared first, before the full token).
    pub(crate) hash: u64,
    /// The key set (`Snapshot::generation`) the token was verified under.
    pub(crate) generation: u64,
    /// `exp`, checked against the clock on every hit.
    pub(crate) exp: u64,
    /// `nbf`, checked against the clock on every hit.
    pub(crate) nbf: Option<u64>,
    /// What the validation returned, with the token.
    pub(crate) value: V,
    referenced: AtomicBool,
}

impl<V> Entry<V> {
    pub(crate) fn new(hash: u64, generation: u64, exp: u64, nbf: Option<u64>, value: V) -> Self {
        Self {
            hash,
            generation,
            exp,
            nbf,
            value,
            referenced: AtomicBool::new(false),
        }
    }
}

/// The bounded map of verified tokens (see the module docs).
pub(crate) struct TokenCache<V> {
    slots: Box<[ArcSwapOption<Entry<V>>]>,
    sets: usize,
    ways: usize,
    hasher: RandomState,
    /// Where the second-chance sweep starts in a full set (advanced on every such insert).
    hand: AtomicUsize,
}

/// A found entry, held without taking a reference count.
pub(crate) type Hit<V> = Guard<Option<Arc<Entry<V>>>>;

impl<V: Keyed> TokenCache<V> {
    /// A cache of at most `capacity` entries; `None` when `capacity` is 0 (caching off).
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let ways = WAYS.min(capacity);
        let sets = capacity / ways;
        Some(Self {
            slots: (0..sets * ways).map(|_| ArcSwapOption::empty()).collect(),
            sets,
            ways,
            hasher: RandomState::default(),
            hand: AtomicUsize::new(0),
        })
    }

    /// The most entries the cache holds.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The hash that chooses `token`'s set.
    #[inline]
    pub(crate) fn hash(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let tail = &bytes[bytes.len().saturating_sub(HASHED_TAIL)..];
        self.hasher.hash_one((bytes.len(), tail))
    }

    fn set(&self, hash: u64) -> &[ArcSwapOption<Entry<V>>] {
        // Multiply-shift maps the hash onto 0..sets without a division.
        let set = ((u128::from(hash) * self.sets as u128) >> 64) as usize;
        &self.slots[set * self.ways..(set + 1) * self.ways]
    }

    /// The entry for exactly `token` (whose hash is `hash`), if cached.
    #[inline]
    pub(crate) fn get(&self, token: &str, hash: u64) -> Option<Hit<V>> {
        for slot in self.set(hash) {
            let guard = slot.load();
            if let Some(entry) = guard.as_ref()
                && entry.hash == hash
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    entry.value.token().as_bytes(),
                    token.as_bytes(),
                )
                .is_ok()
            {
                if !entry.referenced.load(Ordering::Relaxed) {
                    entry.referenced.store(true, Ordering::Relaxed);
                }
                return Some(guard);
            }
        }
        None
    }

    /// Store `entry`, replacing the same token's entry, else a free or unusable slot of its set
    /// (`usable` says whether an entry can still be hit), else the second-chance victim.
    pub(crate) fn insert(&self, entry: Entry<V>, usable: impl Fn(&Entry<V>) -> bool) {
        let set = self.set(entry.hash);
        let mut victim = None;
        for (i, slot) in set.iter().enumerate() {
            let guard = slot.load();
            match guard.as_ref() {
                None => {
                    victim = Some(i);
                    break;
                }
                Some(old) if old.hash == entry.hash && old.value.token() == entry.value.token() => {
                    victim = Some(i);
                    break;
                }
                Some(old) if victim.is_none() && !usable(old) => victim = Some(i),
                Some(_) => {}
            }
        }
        let victim = victim.unwrap_or_else(|| {
            // Second chance: clear `referenced` flags from the hand on; the first entry found
            // without one goes. After one round every flag is clear, so this ends.
            let start = self.hand.fetch_add(1, Ordering::Relaxed);
            (0..2 * self.ways)
                .map(|k| (start + k) % self.ways)
                .find(|&i| match set[i].load().as_ref() {
                    Some(old) => !old.referenced.swap(false, Ordering::Relaxed),
                    None => true,
                })
                .unwrap_or(start % self.ways)
        });
        set[victim].store(Some(Arc::new(entry)));
    }

    /// How many slots hold an entry (a scan: for status and tests, not the hot path).
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.load().is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Keyed for (Box<str>, u32) {
        fn token(&self) -> &str {
            &self.0
        }
    }

    type Value = (Box<str>, u32);

    fn entry(cache: &TokenCache<Value>, token: &str, generation: u64, value: u32) -> Entry<Value> {
        Entry::new(
            cache.hash(token),
            generation,
            100,
            None,
            (token.into(), value),
        )
    }

    #[test]
    fn finds_exactly_the_token_it_stored() {
        let cache = TokenCache::new(16).unwrap();
        let t = "header.payload.signature-abcdefghijklmnopqrstuvwxyz";
        cache.insert(entry(&cache, t, 1, 7), |_| true);
        assert_eq!(
            cache
                .get(t, cache.hash(t))
                .unwrap()
                .as_ref()
                .unwrap()
                .value
                .1,
            7
        );
        // One byte different anywhere (here, before the hashed tail) is a miss, even with the
        // stored entry's hash.
        let other = t.replacen("header", "headex", 1);
        assert!(cache.get(&other, cache.hash(t)).is_none());
        assert!(cache.get(&t[..t.len() - 1], cache.hash(t)).is_none());
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in [1, 3, 4, 10, 100] {
            let cache = TokenCache::new(capacity).unwrap();
            assert!(cache.capacity() <= capacity);
            for i in 0..1000 {
                cache.insert(entry(&cache, &format!("t.{i}.sig{i}"), 1, i), |_| true);
                assert!(cache.len() <= capacity);
            }
            assert_eq!(cache.len(), cache.capacity());
        }
        assert!(TokenCache::<Value>::new(0).is_none());
    }

    #[test]
    fn unusable_entries_are_replaced_first_and_used_ones_get_a_second_chance() {
        // One set of four.
        let cache = TokenCache::new(4).unwrap();
        let tokens: Vec<String> = (0..4).map(|i| format!("t.{i}.s{i}")).collect();
        for (i, t) in tokens.iter().enumerate() {
            cache.insert(
                entry(&cache, t, if i == 2 { 0 } else { 1 }, i as u32),
                |_| true,
            );
        }
        // Generation 0 is unusable: the new token takes its slot.
        cache.insert(entry(&cache, "t.new.s", 1, 9), |e| e.generation == 1);
        assert!(cache.get(&tokens[2], cache.hash(&tokens[2])).is_none());
        for t in [&tokens[0], &tokens[1], &tokens[3]] {
            assert!(cache.get(t, cache.hash(t)).is_some());
        }
        // All referenced except "t.new.s": it is the one a flood of new tokens replaces, and
        // then each newcomer replaces the previous newcomer while the used tokens stay.
        for i in 0..10 {
            let t = format!("t.flood{i}.s");
            cache.insert(entry(&cache, &t, 1, 100 + i), |e| e.generation == 1);
            for t in [&tokens[0], &tokens[1], &tokens[3]] {
                assert!(cache.get(t, cache.hash(t)).is_some(), "{t} after flood {i}");
            }
        }
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn reinserting_a_token_replaces_its_entry() {
        let cache = TokenCache::new(8).unwrap();
        cache.insert(entry(&cache, "a.b.c", 1, 1), |_| true);
        cache.insert(entry(&cache, "a.b.c", 2, 2), |_| true);
        assert_eq!(cache.len(), 1);
        let hit = cache.get("a.b.c", cache.hash("a.b.c")).unwrap();
        assert_eq!(hit.as_ref().unwrap().generation, 2);
    }
}
