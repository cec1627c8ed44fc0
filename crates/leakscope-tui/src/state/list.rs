//! A scrollable selection over a list of `len` rows of which `height` are visible: the only rows
//! a view builds are `offset..offset + height`.

/// Selection and scroll position of one list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListState {
    /// The selected row.
    pub(crate) selected: usize,
    /// The first visible row.
    pub(crate) offset: usize,
    /// How many rows are visible (set from the layout before input is handled).
    pub(crate) height: usize,
}

impl ListState {
    /// Moves the selection by `delta` rows, clamped to `0..len`.
    pub(crate) fn move_by(&mut self, delta: isize, len: usize) {
        let target = self.selected.saturating_add_signed(delta);
        self.selected = target.min(len.saturating_sub(1));
        self.follow(len);
    }

    /// Moves by one visible page.
    pub(crate) fn page(&mut self, down: bool, len: usize) {
        let step = self.height.max(1) as isize;
        self.move_by(if down { step } else { -step }, len);
    }

    /// Selects the first row.
    pub(crate) fn home(&mut self, len: usize) {
        self.selected = 0;
        self.follow(len);
    }

    /// Selects the last row.
    pub(crate) fn end(&mut self, len: usize) {
        self.selected = len.saturating_sub(1);
        self.follow(len);
    }

    /// Selects row `index` if it exists.
    pub(crate) fn select(&mut self, index: usize, len: usize) {
        if index < len {
            self.selected = index;
            self.follow(len);
        }
    }

    /// Sets the visible height and keeps the selection in view.
    pub(crate) fn set_height(&mut self, height: usize, len: usize) {
        self.height = height;
        self.follow(len);
    }

    /// Keeps `selected` inside `0..len` and inside the visible window.
    pub(crate) fn follow(&mut self, len: usize) {
        if len == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(len - 1);
        let height = self.height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        // Never leave empty space below the last row when there is more above.
        self.offset = self.offset.min(len.saturating_sub(height));
    }

    /// The visible rows.
    pub(crate) fn visible(&self, len: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(len);
        start..(start + self.height.max(1)).min(len)
    }
}

#[cfg(test)]
mod tests {
    use super::ListState;

    /// Applies `ops` to a list of `len` rows, 3 visible, and checks `(selected, offset, visible)`.
    fn check(len: usize, ops: &[&str], expected: (usize, usize, std::ops::Range<usize>)) {
        let mut list = ListState { height: 3, ..ListState::default() };
        for op in ops {
            match *op {
                "down" => list.move_by(1, len),
                "up" => list.move_by(-1, len),
                "pgdn" => list.page(true, len),
                "pgup" => list.page(false, len),
                "home" => list.home(len),
                "end" => list.end(len),
                "shrink" => list.follow(2),
                "click4" => list.select(4, len),
                other => panic!("unknown op {other}"),
            }
        }
        assert_eq!((list.selected, list.offset, list.visible(len)), expected, "{ops:?}");
    }

    #[test]
    fn moves_and_scrolls() {
        check(10, &[], (0, 0, 0..3));
        check(10, &["up"], (0, 0, 0..3));
        check(10, &["down", "down"], (2, 0, 0..3));
        check(10, &["down", "down", "down"], (3, 1, 1..4));
        check(10, &["pgdn", "pgdn", "pgdn", "pgdn"], (9, 7, 7..10));
        check(10, &["end", "pgup"], (6, 6, 6..9));
        check(10, &["end", "home"], (0, 0, 0..3));
        check(10, &["click4"], (4, 2, 2..5));
        check(3, &["click4"], (0, 0, 0..3));
        // The list shrank under the selection.
        check(10, &["end", "shrink"], (1, 0, 0..3));
        check(0, &["down", "end", "pgdn"], (0, 0, 0..0));
    }
}
