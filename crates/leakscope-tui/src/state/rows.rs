//! The live tasks' rows, in chunks a new publication shares with the last one where nothing in
//! them changed. A row holds no time that moves by itself (an idle task's row says when it went
//! idle, not for how long), so at a million idle tasks a new list is the few chunks that changed,
//! not a second copy of 64 MB.

use std::sync::Arc;

use crate::state::data::TaskRow;

/// Rows whose ids share this many high bits are one chunk: tokio numbers tasks in order, so a
/// chunk is up to 4,096 tasks spawned one after another, and a task ending changes its chunk
/// alone.
const CHUNK_BITS: u32 = 12;

/// Task rows, sorted by id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rows {
    chunks: Vec<Arc<[TaskRow]>>,
    len: usize,
}

impl Rows {
    /// How many rows.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every row, by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &TaskRow> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// The row of task `id`.
    pub(crate) fn get(&self, id: u64) -> Option<&TaskRow> {
        let at = self.chunks.partition_point(|c| c.last().is_some_and(|last| last.id < id));
        let chunk = self.chunks.get(at)?;
        chunk.binary_search_by_key(&id, |r| r.id).ok().map(|i| &chunk[i])
    }

    /// How many chunks `other` shares with these.
    #[cfg(test)]
    pub(crate) fn shared_with(&self, other: &Rows) -> usize {
        self.chunks.iter().filter(|c| other.chunks.iter().any(|o| Arc::ptr_eq(c, o))).count()
    }
}

impl From<Vec<TaskRow>> for Rows {
    fn from(rows: Vec<TaskRow>) -> Self {
        let mut builder = RowsBuilder::new(&EMPTY);
        rows.into_iter().for_each(|row| builder.push(row));
        builder.finish()
    }
}

static EMPTY: Rows = Rows { chunks: Vec::new(), len: 0 };

/// Builds [`Rows`] from rows pushed in id order, sharing each chunk of `old` whose rows came
/// again unchanged.
pub(crate) struct RowsBuilder<'a> {
    old: &'a Rows,
    /// The first chunk of `old` not passed yet.
    old_at: usize,
    chunks: Vec<Arc<[TaskRow]>>,
    current: Vec<TaskRow>,
    len: usize,
}

impl<'a> RowsBuilder<'a> {
    pub(crate) fn new(old: &'a Rows) -> Self {
        Self { old, old_at: 0, chunks: Vec::new(), current: Vec::new(), len: 0 }
    }

    /// Adds the next row (ids increasing).
    pub(crate) fn push(&mut self, row: TaskRow) {
        if self.current.last().is_some_and(|last| last.id >> CHUNK_BITS != row.id >> CHUNK_BITS) {
            self.flush();
        }
        self.current.push(row);
    }

    fn flush(&mut self) {
        let Some(first) = self.current.first() else { return };
        let key = first.id >> CHUNK_BITS;
        let old = &self.old.chunks;
        while old.get(self.old_at).is_some_and(|c| c[0].id >> CHUNK_BITS < key) {
            self.old_at += 1;
        }
        let chunk = match old.get(self.old_at) {
            Some(same) if **same == *self.current => Arc::clone(same),
            _ => Arc::from(self.current.as_slice()),
        };
        self.len += chunk.len();
        self.chunks.push(chunk);
        self.current.clear();
    }

    pub(crate) fn finish(mut self) -> Rows {
        self.flush();
        Rows { chunks: self.chunks, len: self.len }
    }
}
