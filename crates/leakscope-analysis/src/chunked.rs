//! [`Chunked`]: a list sorted by a key, held in shared chunks, so that a copy handed to a screen
//! costs nothing and a change copies only the chunks it touches.

use std::sync::Arc;

/// Items a chunk is cut to when a list is built; a chunk that grows past twice this is split.
const CHUNK: usize = 4096;

/// A list sorted by a `u64` key (equal keys allowed, kept in their order), held in chunks of
/// a few thousand items behind `Arc`s. Cloning shares every chunk. [`Chunked::replace`] copies
/// the chunks it changes and shares the rest with any clone, so a client that publishes the
/// model's million resources to a screen, and then applies a delta that changes ten of them,
/// copies a few chunks, not the million.
#[derive(Debug, Clone)]
pub struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    /// Items before each chunk.
    starts: Vec<usize>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self { chunks: Vec::new(), starts: Vec::new(), len: 0 }
    }
}

impl<T> Chunked<T> {
    /// Items held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item at `index`, in key order.
    pub fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let chunk = self.starts.partition_point(|&start| start <= index) - 1;
        self.chunks[chunk].get(index - self.starts[chunk])
    }

    /// Every item, in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + Clone {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// The items whose key is `key`, in their order: two binary searches, then the items.
    pub fn equal(&self, key: u64, key_of: impl Fn(&T) -> u64) -> impl Iterator<Item = &T> {
        // The first chunk that may hold `key`: the first whose last item is not below it.
        let first = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(|last| key_of(last) < key));
        let start = self.chunks.get(first).map_or(0, |c| c.partition_point(|i| key_of(i) < key));
        self.chunks[first..]
            .iter()
            .enumerate()
            .flat_map(move |(n, chunk)| if n == 0 { &chunk[start..] } else { &chunk[..] })
            .take_while(move |item| key_of(item) == key)
    }

    /// The first item whose key is `key`.
    pub fn find(&self, key: u64, key_of: impl Fn(&T) -> u64) -> Option<&T> {
        self.equal(key, key_of).next()
    }

    /// Whether `other` holds the very chunks `self` does (a clone, unchanged since).
    pub fn is_same(&self, other: &Chunked<T>) -> bool {
        self.len == other.len
            && self.chunks.len() == other.chunks.len()
            && self.chunks.iter().zip(&other.chunks).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// How many of `self`'s chunks are `other`'s too, not copies (what a change shared).
    #[cfg(test)]
    fn shared_chunks(&self, other: &Chunked<T>) -> usize {
        self.chunks.iter().filter(|c| other.chunks.iter().any(|o| Arc::ptr_eq(c, o))).count()
    }

    fn from_chunks(chunks: Vec<Arc<Vec<T>>>) -> Self {
        let mut starts = Vec::with_capacity(chunks.len());
        let mut len = 0;
        for chunk in &chunks {
            starts.push(len);
            len += chunk.len();
        }
        Self { chunks, starts, len }
    }
}

impl<T: Clone> Chunked<T> {
    /// A list of `items`, which are sorted by their key already. Cut from the end, the vector
    /// given back to the allocator as it goes, so that a million items are never held twice.
    pub fn from_sorted(items: Vec<T>) -> Self {
        let mut rest = items;
        let mut chunks = Vec::with_capacity(rest.len().div_ceil(CHUNK));
        while rest.len() > CHUNK {
            chunks.push(Arc::new(rest.split_off(rest.len() - CHUNK)));
            if chunks.len() % 64 == 0 {
                // A large vector's shrink is the system's (`mremap`): no copy.
                rest.shrink_to_fit();
            }
        }
        if !rest.is_empty() {
            rest.shrink_to_fit();
            chunks.push(Arc::new(rest));
        }
        chunks.reverse();
        Self::from_chunks(chunks)
    }

    /// For each key of `keys` (sorted, without repeats), the items with that key are replaced
    /// by those of `incoming` with that key, if any (`incoming` is sorted by key, its keys all
    /// in `keys`). Items with other keys stay, and chunks holding none of `keys` stay shared.
    pub fn replace(&mut self, keys: &[u64], incoming: Vec<T>, key_of: impl Fn(&T) -> u64) {
        if keys.is_empty() {
            return;
        }
        if self.chunks.is_empty() {
            *self = Self::from_sorted(incoming);
            return;
        }
        // Each incoming item goes to the last chunk whose first key is not above its key (the
        // first chunk for keys below every chunk), which keeps the order across chunks.
        let firsts: Vec<u64> = self.chunks.iter().map(|c| key_of(&c[0])).collect();
        let home = |key: u64| firsts.partition_point(|&first| first <= key).saturating_sub(1);
        let mut arriving: Vec<Vec<T>> = Vec::new();
        arriving.resize_with(self.chunks.len(), Vec::new);
        for item in incoming {
            arriving[home(key_of(&item))].push(item);
        }
        let mut chunks = Vec::with_capacity(self.chunks.len());
        for (chunk, arriving) in std::mem::take(&mut self.chunks).into_iter().zip(arriving) {
            // A chunk is changed if it holds one of the keys or receives items.
            let (first, last) = (key_of(&chunk[0]), key_of(&chunk[chunk.len() - 1]));
            let from = keys.partition_point(|&k| k < first);
            let touched = keys.get(from).is_some_and(|&k| k <= last);
            if !touched && arriving.is_empty() {
                chunks.push(chunk);
                continue;
            }
            let kept = chunk.iter().filter(|item| keys.binary_search(&key_of(item)).is_err());
            let mut merged = Vec::with_capacity(chunk.len() + arriving.len());
            let mut arriving = arriving.into_iter().peekable();
            for item in kept {
                while arriving.peek().is_some_and(|a| key_of(a) < key_of(item)) {
                    merged.extend(arriving.next());
                }
                merged.push(item.clone());
            }
            merged.extend(arriving);
            if merged.len() > 2 * CHUNK {
                let mut rest = merged.into_iter();
                loop {
                    let piece: Vec<T> = rest.by_ref().take(CHUNK).collect();
                    if piece.is_empty() {
                        break;
                    }
                    chunks.push(Arc::new(piece));
                }
            } else if !merged.is_empty() {
                chunks.push(Arc::new(merged));
            }
        }
        *self = Self::from_chunks(chunks);
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        self.get(index).expect("index within the list")
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a T> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::{CHUNK, Chunked};

    /// (key, tag): the tag tells an item from another with the same key.
    type Item = (u64, u32);

    fn key(item: &Item) -> u64 {
        item.0
    }

    /// What `replace` must give, done on a plain vector.
    fn expected(held: &[Item], keys: &[u64], incoming: &[Item]) -> Vec<Item> {
        let mut all: Vec<Item> =
            held.iter().filter(|i| keys.binary_search(&i.0).is_err()).copied().collect();
        all.extend(incoming);
        all.sort_by_key(|i| i.0);
        all
    }

    #[test]
    fn a_replace_changes_what_a_vector_would_and_shares_the_chunks_it_left() {
        // Three items per even key from 0, so that equal keys straddle chunk boundaries.
        let held: Vec<Item> = (0..3 * CHUNK as u64).map(|i| (i / 3 * 2, i as u32)).collect();
        let list = Chunked::from_sorted(held.clone());
        assert_eq!(list.len(), held.len());
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), held);

        // A key inside a chunk, one straddling a chunk boundary, one new, one beyond them all.
        let boundary = key(&held[CHUNK]);
        let keys = vec![4, boundary, boundary + 1, 2 * held.len() as u64];
        let incoming = vec![(4, 900), (4, 901), (boundary, 902), (boundary + 1, 903)];
        let mut changed = list.clone();
        changed.replace(&keys, incoming.clone(), key);
        let want = expected(&held, &keys, &incoming);
        assert_eq!(changed.iter().copied().collect::<Vec<_>>(), want);
        assert_eq!(changed.len(), want.len());
        for (i, item) in want.iter().enumerate() {
            assert_eq!(changed[i], *item, "index {i}");
        }
        assert_eq!(changed.equal(4, key).copied().collect::<Vec<_>>(), [(4, 900), (4, 901)]);
        assert_eq!(changed.equal(boundary, key).copied().collect::<Vec<_>>(), [(boundary, 902)]);
        assert_eq!(changed.find(6, key), Some(&(6, 9)));
        assert_eq!(changed.find(5, key), None);
        // The original is untouched, and the chunks no key fell in are shared, not copied.
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), held);
        assert_eq!(changed.shared_chunks(&list), 1, "the last chunk held none of the keys");
        let mut far = list.clone();
        far.replace(&[2], vec![(2, 904)], key);
        assert_eq!(far.shared_chunks(&list), 2);
    }

    #[test]
    fn a_chunk_that_grows_is_split_and_one_emptied_goes() {
        let mut list = Chunked::from_sorted(vec![(10, 0), (20, 1)]);
        let incoming: Vec<Item> = (0..3 * CHUNK as u64).map(|i| (30 + i, 2)).collect();
        let keys: Vec<u64> = incoming.iter().map(key).collect();
        list.replace(&keys, incoming, key);
        assert_eq!(list.len(), 2 + 3 * CHUNK);
        assert!(list.chunks.iter().all(|c| c.len() <= 2 * CHUNK));
        assert_eq!(list.get(1 + 3 * CHUNK), Some(&(30 + 3 * CHUNK as u64 - 1, 2)));

        let all: Vec<u64> = list.iter().map(key).collect();
        list.replace(&all, Vec::new(), key);
        assert!(list.is_empty() && list.chunks.is_empty() && list.get(0).is_none());
        list.replace(&[5], vec![(5, 3)], key);
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), [(5, 3)]);
    }
}
