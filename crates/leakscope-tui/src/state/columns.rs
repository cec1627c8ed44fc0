//! The sortable columns of each list screen: their titles, natural direction (numbers largest
//! first, text A to Z) and the order they cycle in with `s`.

/// A sortable column.
pub(crate) trait Column: Copy + Eq + std::fmt::Debug + 'static {
    /// Every column, in the order `s` cycles through them.
    const ALL: &'static [Self];
    /// The column's header.
    fn title(self) -> &'static str;
    /// Whether it sorts largest first before `S` reverses it.
    fn descending(self) -> bool;
}

/// A column and whether `S` reversed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sort<C> {
    /// The column sorted on.
    pub(crate) column: C,
    /// Reversed from its natural direction.
    pub(crate) reverse: bool,
}

impl<C: Column> Sort<C> {
    /// Sorting on `column` in its natural direction.
    pub(crate) fn by(column: C) -> Self {
        Self { column, reverse: false }
    }

    /// The next column, in its natural direction.
    pub(crate) fn next(&mut self) {
        let index = C::ALL.iter().position(|c| *c == self.column).unwrap_or(0);
        self.column = C::ALL[(index + 1) % C::ALL.len()];
        self.reverse = false;
    }

    /// Reverses the direction.
    pub(crate) fn flip(&mut self) {
        self.reverse = !self.reverse;
    }

    /// Whether rows run largest first.
    pub(crate) fn descending(&self) -> bool {
        self.column.descending() != self.reverse
    }

    /// Applies the direction to an ascending comparison.
    pub(crate) fn direct(&self, ascending: std::cmp::Ordering) -> std::cmp::Ordering {
        if self.descending() { ascending.reverse() } else { ascending }
    }
}

macro_rules! columns {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = ($title:literal, $desc:literal)),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl Column for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn title(self) -> &'static str {
                match self {
                    $(Self::$variant => $title),+
                }
            }

            fn descending(self) -> bool {
                match self {
                    $(Self::$variant => $desc),+
                }
            }
        }
    };
}

columns! {
    /// Columns of the Tasks screen.
    TaskColumn {
        /// Task id.
        Id = ("ID", false),
        /// Running, scheduled, idle.
        State = ("STATE", false),
        /// Time idle.
        Idle = ("IDLE", true),
        /// Time since spawn.
        Age = ("AGE", true),
        /// Polls.
        Polls = ("POLLS", true),
        /// Time in polls.
        Busy = ("BUSY", true),
        /// Wakes.
        Wakes = ("WAKES", true),
        /// Live wakers.
        Wakers = ("WKR", true),
        /// What it is parked in.
        Wait = ("WAITING ON", false),
        /// Spawn location.
        Location = ("SPAWNED AT", false),
        /// Task name.
        Name = ("NAME", false),
        /// Finding kinds of its group.
        Flags = ("FLAGS", true),
    }
}

columns! {
    /// Columns of the Groups screen.
    GroupColumn {
        /// Most severe finding, then size.
        Severity = ("SEV", true),
        /// Tasks in the group.
        Count = ("TASKS", true),
        /// Longest idle.
        Idle = ("OLDEST", true),
        /// Growth per second.
        Trend = ("TREND", true),
        /// Spawn location.
        Location = ("SPAWNED AT", false),
        /// Wait point.
        Wait = ("WAITING ON", false),
    }
}

columns! {
    /// Columns of the Findings screen.
    FindingColumn {
        /// Severity (the analysis's own order: then count, then age).
        Severity = ("SEV", true),
        /// Detector.
        Kind = ("KIND", false),
        /// Tasks covered.
        Count = ("TASKS", true),
        /// Age of the oldest instance.
        Oldest = ("OLDEST", true),
        /// Location.
        Location = ("WHERE", false),
    }
}

columns! {
    /// Columns of the Resources screen.
    ResourceColumn {
        /// Tasks waiting.
        Waiters = ("WAITERS", true),
        /// Longest wait.
        Oldest = ("OLDEST", true),
        /// Mutex, semaphore, channel...
        Kind = ("KIND", false),
        /// Where it was created.
        Location = ("CREATED AT", false),
        /// Resource id.
        Id = ("ID", false),
    }
}

#[cfg(test)]
mod tests {
    use super::{Column, GroupColumn, Sort, TaskColumn};

    #[test]
    fn sort_cycles_columns_and_flips() {
        let mut sort = Sort::by(GroupColumn::Severity);
        assert!(sort.descending());
        sort.flip();
        assert!(!sort.descending());
        let mut seen = Vec::new();
        for _ in 0..GroupColumn::ALL.len() {
            sort.next();
            seen.push((sort.column.title(), sort.descending()));
        }
        assert_eq!(
            seen,
            [
                ("TASKS", true),
                ("OLDEST", true),
                ("TREND", true),
                ("SPAWNED AT", false),
                ("WAITING ON", false),
                ("SEV", true),
            ]
        );
        assert_eq!(TaskColumn::ALL.len(), 12);
    }
}
