//! What the user asked for, independent of the key or click that asked: `input.rs` maps keys
//! and mouse events to these, `App::handle` carries them out.

/// One user intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Leave leakscope.
    Quit,
    /// Select the previous row (or scroll up a detail).
    Up,
    /// Select the next row.
    Down,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// First row.
    Home,
    /// Last row.
    End,
    /// Open what is selected: a group's tasks, a task's detail.
    Open,
    /// Back to where Open came from.
    Back,
    /// The next screen.
    NextTab,
    /// The previous screen.
    PrevTab,
    /// A screen by number.
    Tab(Tab),
    /// Start typing a filter.
    Filter,
    /// A character of the filter.
    FilterChar(char),
    /// Delete the filter's last character.
    FilterBackspace,
    /// Keep the filter and stop typing.
    FilterDone,
    /// Clear the filter and stop typing.
    FilterCancel,
    /// Sort by the next column.
    Sort,
    /// Reverse the sort.
    SortReverse,
    /// Ask for a task dump: opens the confirmation, which states the risk.
    Dump,
    /// Yes, take the dump (`y` in the confirmation).
    DumpConfirm,
    /// No dump after all (any other key in the confirmation).
    DumpCancel,
    /// Write a flamegraph of what is on screen.
    Flamegraph,
    /// Freeze the screen (data keeps arriving) or resume.
    Pause,
    /// Show or hide the key help.
    Help,
    /// Mouse wheel up.
    ScrollUp,
    /// Mouse wheel down.
    ScrollDown,
    /// A left click at a cell.
    Click {
        /// Column.
        column: u16,
        /// Row.
        row: u16,
    },
}

/// The top-level screens, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tab {
    /// Live tasks over time, rates, runtime metrics, findings by severity, the agent's health.
    Overview,
    /// Tasks grouped by spawn location and wait point.
    Groups,
    /// Every live task.
    Tasks,
    /// Every finding.
    Findings,
    /// Locks, semaphores and channels.
    Resources,
}

impl Tab {
    /// Every screen in Tab order.
    pub(crate) const ALL: [Self; 5] =
        [Self::Overview, Self::Groups, Self::Tasks, Self::Findings, Self::Resources];

    /// The screen's title.
    pub(crate) const fn title(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Groups => "Groups",
            Self::Tasks => "Tasks",
            Self::Findings => "Findings",
            Self::Resources => "Resources",
        }
    }

    /// Position in [`Tab::ALL`].
    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The screen `step` places further, wrapping.
    pub(crate) fn step(self, step: isize) -> Self {
        let len = Self::ALL.len() as isize;
        Self::ALL[(self.index() as isize + step).rem_euclid(len) as usize]
    }
}

/// How keys are read right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Keys are commands.
    Normal,
    /// Keys type into the filter.
    Filter,
    /// The help is shown; most keys close it.
    Help,
    /// The task-dump confirmation is shown: `y` takes the dump, any other key cancels.
    ConfirmDump,
}
