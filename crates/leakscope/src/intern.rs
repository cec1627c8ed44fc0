//! Interning of file paths, source locations, names and wait chains into small ids, so that a
//! record holds a `u32` and 100k tasks spawned at one line, or parked at one `.await`, cost one
//! entry.
//!
//! The global tables sit behind locks, but the hot path rarely reaches them: each thread keeps
//! caches in front. Files are cached by the string's address and checked against its content
//! (tokio passes `Location::file()`, a `&'static str`, so the address is stable in practice; the
//! content check keeps a reused address from ever aliasing).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

/// The multiply-rotate hash of rustc's `FxHasher`, for the per-thread caches: they are looked up
/// on every spawn with keys the app cannot choose freely (addresses, ids, task names), where
/// SipHash's resistance to crafted keys buys nothing and costs a visible share of a spawn.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Id 0 is "unknown"; real entries start at 1.
pub(crate) struct Table<K> {
    ids: Mutex<HashMap<K, u32>>,
    entries: RwLock<Vec<K>>,
}

impl<K: Clone + Eq + std::hash::Hash> Table<K> {
    fn new() -> Self {
        Self { ids: Mutex::new(HashMap::new()), entries: RwLock::new(Vec::new()) }
    }

    fn intern(&self, key: &K) -> u32 {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = ids.get(key) {
            return *id;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.push(key.clone());
        let id = entries.len() as u32;
        ids.insert(key.clone(), id);
        id
    }

    /// The entry behind `id`, if any.
    pub(crate) fn get(&self, id: u32) -> Option<K> {
        let index = id.checked_sub(1)? as usize;
        self.entries.read().unwrap_or_else(PoisonError::into_inner).get(index).cloned()
    }
}

pub(crate) struct Interner {
    files: Table<Box<str>>,
    locations: Table<(u32, u32, u32)>,
    pub(crate) names: Table<Box<str>>,
    chains: Table<Box<[usize]>>,
    /// Distinct chains interned; captures past [`MAX_CHAINS`] are dropped and counted.
    chain_count: AtomicUsize,
    chains_dropped: AtomicU64,
}

/// Distinct wait chains kept at most (about 400 bytes each). An app has one per `.await` of a
/// tokio leaf it reaches by a distinct path; a bound keeps a pathological one from growing the
/// table without end.
pub(crate) const MAX_CHAINS: usize = 16_384;

/// (address, length) of a string -> (its id, the string, to check the content).
/// Places in an [`AddressCache`]'s front.
const RECENT_TEXTS: usize = 16;

/// (address, length) of a text, its id, and the text, to check the content.
type RecentText = ((usize, usize), u32, Rc<str>);

/// A location's key and id (0 for an empty place).
type RecentLocation = ((u32, u32, u32), u32);

/// A per-thread cache of texts by address (see [`by_address`]): a small direct-mapped front of
/// recent hits, which needs no hashing, before a map of every text the thread has seen.
#[derive(Default)]
struct AddressCache {
    /// (address, length) -> (id, the text), by the address's bits above the alignment.
    front: [Option<RecentText>; RECENT_TEXTS],
    map: FxMap<(usize, usize), (u32, Rc<str>)>,
}

impl AddressCache {
    fn place(key: (usize, usize)) -> usize {
        (key.0 >> 3 ^ key.1) % RECENT_TEXTS
    }
}

/// Places in the per-thread cache of recent locations ([`Interner::location`]).
const RECENT_LOCATIONS: usize = 64;

thread_local! {
    /// Recently interned locations by a hash of their key: a place holds one key and its id (0
    /// for an empty place). No borrow flag, no hashing of the map's kind: a spawn in a loop finds
    /// its site here.
    static RECENT_LOCATION: [Cell<RecentLocation>; RECENT_LOCATIONS] =
        const { [const { Cell::new(((0, 0, 0), 0)) }; RECENT_LOCATIONS] };
    static FILE_CACHE: RefCell<AddressCache> = RefCell::new(AddressCache::default());
    /// Names tokio lends from its own literals (an async op's `source`), by address.
    static NAME_ADDRESS_CACHE: RefCell<AddressCache> = RefCell::new(AddressCache::default());
    static LOCATION_CACHE: RefCell<FxMap<(u32, u32, u32), u32>> = RefCell::new(FxMap::default());
    static NAME_CACHE: RefCell<FxMap<Box<str>, u32>> = RefCell::new(FxMap::default());
    static CHAIN_CACHE: RefCell<FxMap<Box<[usize]>, u32>> = RefCell::new(FxMap::default());
}

impl Interner {
    pub(crate) fn new() -> Self {
        Self {
            files: Table::new(),
            locations: Table::new(),
            names: Table::new(),
            chains: Table::new(),
            chain_count: AtomicUsize::new(0),
            chains_dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn file(&self, file: &str) -> u32 {
        by_address(&FILE_CACHE, &self.files, file)
    }

    /// The id of a name lent as a string that usually lives for the program (an async op's
    /// `source`, a literal in tokio): found by its address first, which spares hashing its text
    /// on every operation; the text is still compared, so a reused address never aliases.
    pub(crate) fn name_at(&self, name: &str) -> u32 {
        by_address(&NAME_ADDRESS_CACHE, &self.names, name)
    }

    pub(crate) fn location(&self, file_id: u32, line: u32, col: u32) -> u32 {
        if file_id == 0 {
            return 0;
        }
        let key = (file_id, line, col);
        // The recent sites first: a loop spawns, and makes its channels, at the same few lines.
        let place = (file_id.wrapping_mul(31).wrapping_add(line).wrapping_mul(31).wrapping_add(col)
            as usize)
            % RECENT_LOCATIONS;
        let recent = RECENT_LOCATION
            .try_with(|r| r[place].get())
            .ok()
            .filter(|&(k, id)| k == key && id != 0)
            .map(|(_, id)| id);
        if let Some(id) = recent {
            return id;
        }
        let cached = LOCATION_CACHE.try_with(|c| c.borrow().get(&key).copied()).ok().flatten();
        let id = match cached {
            Some(id) => id,
            None => {
                let id = self.locations.intern(&key);
                let _ = LOCATION_CACHE.try_with(|c| {
                    if let Ok(mut c) = c.try_borrow_mut() {
                        c.insert(key, id);
                    }
                });
                id
            }
        };
        let _ = RECENT_LOCATION.try_with(|r| r[place].set((key, id)));
        id
    }

    pub(crate) fn name(&self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let cached = NAME_CACHE.try_with(|c| c.borrow().get(name).copied()).ok().flatten();
        if let Some(id) = cached {
            return id;
        }
        let id = self.names.intern(&name.into());
        let _ = NAME_CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.insert(name.into(), id);
            }
        });
        id
    }

    /// The id of a wait chain (return addresses, innermost first); 0 for an empty chain or when
    /// the table is full (counted). A thread that has seen the chain before finds it in its own
    /// cache, with no lock and no allocation.
    pub(crate) fn chain(&self, addresses: &[usize]) -> u32 {
        if addresses.is_empty() {
            return 0;
        }
        let cached = CHAIN_CACHE
            .try_with(|c| c.try_borrow().ok().and_then(|c| c.get(addresses).copied()))
            .ok()
            .flatten();
        if let Some(id) = cached {
            return id;
        }
        if self.chain_count.load(Ordering::Relaxed) >= MAX_CHAINS {
            self.chains_dropped.fetch_add(1, Ordering::Relaxed);
            return 0;
        }
        let key: Box<[usize]> = addresses.into();
        let id = self.chains.intern(&key);
        self.chain_count.fetch_max(id as usize, Ordering::Relaxed);
        let _ = CHAIN_CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.insert(key, id);
            }
        });
        id
    }

    /// The return addresses of a chain id.
    pub(crate) fn chain_of(&self, id: u32) -> Option<Box<[usize]>> {
        self.chains.get(id)
    }

    /// Distinct chains interned, and captures dropped because the table was full.
    pub(crate) fn chain_stats(&self) -> (u64, u64) {
        (
            self.chain_count.load(Ordering::Relaxed) as u64,
            self.chains_dropped.load(Ordering::Relaxed),
        )
    }

    /// File, line and column of a location id.
    pub(crate) fn resolve(&self, location_id: u32) -> Option<(Box<str>, u32, u32)> {
        let (file, line, col) = self.locations.get(location_id)?;
        Some((self.files.get(file)?, line, col))
    }

    /// The id of the file tokio named relatively (as `file!()` does) that `absolute` ends with,
    /// the longest if several do: debug info names files absolutely, and a site found there
    /// should read, and merge, like the sites tokio reports in the same file.
    pub(crate) fn relative_file_of(&self, absolute: &str) -> Option<u32> {
        let entries = self.files.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .enumerate()
            .filter(|(_, file)| {
                !file.starts_with('/')
                    && absolute.len() > file.len()
                    && absolute.ends_with(file.as_ref() as &str)
                    && absolute.as_bytes()[absolute.len() - file.len() - 1] == b'/'
            })
            .max_by_key(|(_, file)| file.len())
            .map(|(index, _)| index as u32 + 1)
    }

    pub(crate) fn name_of(&self, id: u32) -> Option<Box<str>> {
        self.names.get(id)
    }

    /// How many locations exist; ids run from 1 to this.
    pub(crate) fn location_count(&self) -> usize {
        self.locations.entries.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// `text`'s id in `table`, through a per-thread cache keyed by the text's address and length
/// and checked against its content; 0 for an empty text.
fn by_address(
    cache: &'static std::thread::LocalKey<RefCell<AddressCache>>,
    table: &Table<Box<str>>,
    text: &str,
) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let key = (text.as_ptr() as usize, text.len());
    let place = AddressCache::place(key);
    let cached = cache
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            if let Some((k, id, t)) = &c.front[place]
                && *k == key
                && **t == *text
            {
                return Some(*id);
            }
            let (id, t) = c.map.get(&key).filter(|(_, t)| **t == *text)?;
            let hit = (*id, Rc::clone(t));
            c.front[place] = Some((key, hit.0, hit.1));
            Some(hit.0)
        })
        .ok()
        .flatten();
    if let Some(id) = cached {
        return id;
    }
    let id = table.intern(&text.into());
    let _ = cache.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            let text: Rc<str> = text.into();
            c.front[place] = Some((key, id, Rc::clone(&text)));
            c.map.insert(key, (id, text));
        }
    });
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher as _;

    #[test]
    fn the_cache_hash_tells_nearby_keys_apart() {
        let hasher = BuildHasherDefault::<FxHasher>::default();
        let keys = [(1u32, 2u32, 3u32), (1, 3, 2), (2, 1, 3), (1, 2, 4), (0, 0, 0)];
        let hashes: Vec<u64> = keys.iter().map(|k| hasher.hash_one(k)).collect();
        for (i, a) in hashes.iter().enumerate() {
            assert_eq!(*a, hasher.hash_one(keys[i]), "equal keys, equal hashes");
            for b in &hashes[i + 1..] {
                assert_ne!(a, b, "{keys:?}");
            }
        }
        assert_ne!(hasher.hash_one("src/a.rs"), hasher.hash_one("src/b.rs"));
        assert_ne!(hasher.hash_one("worker"), hasher.hash_one("worker2"));
    }

    #[test]
    fn recent_caches_never_answer_for_another_key() {
        // More locations and texts than the caches' fronts have places: each place is taken
        // over many times, and every answer must still be the key's own.
        let interner = Interner::new();
        let texts: Vec<String> = (0..100).map(|i| format!("src/file{i}.rs")).collect();
        for round in 0..2 {
            for (i, text) in texts.iter().enumerate() {
                let file = interner.file(text);
                assert_eq!(interner.files.get(file).as_deref(), Some(text.as_str()), "{round}");
                for line in 0..70 {
                    let id = interner.location(file, line, i as u32);
                    assert_eq!(interner.resolve(id), Some((text.as_str().into(), line, i as u32)));
                }
            }
        }
        // Same address, other content: a reused address is told apart by its text.
        let mut buffer = String::from("src/a.rs");
        let a = interner.file(&buffer);
        buffer.replace_range(.., "src/b.rs");
        assert_ne!(interner.file(&buffer), a);
    }

    #[test]
    fn equal_locations_share_an_id_and_distinct_ones_do_not() {
        let interner = Interner::new();
        let file = interner.file("src/a.rs");
        let a = interner.location(file, 1, 2);
        assert_eq!(interner.location(interner.file("src/a.rs"), 1, 2), a);
        let owned = String::from("src/a.rs");
        assert_eq!(interner.file(&owned), file, "content, not address, decides");
        assert_ne!(interner.location(file, 1, 3), a);
        assert_eq!(interner.file(""), 0);
        assert_eq!(interner.location(0, 1, 1), 0);
        assert_eq!(interner.resolve(a).unwrap(), ("src/a.rs".into(), 1, 2));
        assert_eq!(interner.name("worker"), interner.name("worker"));
        assert_eq!(interner.name(""), 0);
        assert_eq!(interner.name_of(interner.name("worker")).unwrap().as_ref(), "worker");
        let owned = String::from("worker");
        assert_eq!(interner.name_at("worker"), interner.name("worker"), "one table of names");
        assert_eq!(interner.name_at(&owned), interner.name("worker"), "content, not address");
        assert_eq!(interner.name_at(""), 0);
    }
}
