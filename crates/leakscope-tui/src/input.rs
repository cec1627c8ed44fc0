//! Keys and mouse events to [`Action`]s: pure functions, one table for every mode.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::state::{Action, Mode, Tab};

/// Every key binding, as `?` lists them: (keys, what they do).
pub(crate) const HELP: &[(&str, &str)] = &[
    ("↑ ↓  k j", "move the selection (scroll in a task's detail)"),
    ("PgUp PgDn  Ctrl-u Ctrl-d", "move a page"),
    ("Home End  g G", "first / last row"),
    ("Enter → l", "open: a group's tasks, a task's detail, a finding's or resource's tasks"),
    ("Esc ← h Backspace", "back"),
    ("Tab Shift-Tab", "next / previous screen"),
    ("1 2 3 4 5", "Overview, Groups, Tasks, Findings, Resources"),
    ("/", "filter the list (location, name, state, wait point, finding); Enter keeps, Esc clears"),
    ("s  S", "sort by the next column / reverse the sort"),
    ("d", "take a task dump, after a confirmation (y): it pauses every worker of the app"),
    ("f", "write the task-wait flame graph of what is on screen (into --out-dir)"),
    ("p", "pause the screen (data keeps arriving) / resume"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
    ("mouse", "wheel scrolls, click selects, click the selection to open, click a tab"),
];

/// The action for a key in `mode`, if any.
pub(crate) fn key(mode: Mode, event: KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(event.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    if mode == Mode::ConfirmDump {
        // Only an explicit yes takes the dump: it pauses the app and can wedge a busy runtime.
        return Some(match event.code {
            KeyCode::Char('y' | 'Y') if !ctrl => Action::DumpConfirm,
            _ => Action::DumpCancel,
        });
    }
    if mode == Mode::Filter {
        return match event.code {
            KeyCode::Enter => Some(Action::FilterDone),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    let action = match event.code {
        KeyCode::Char('u') if ctrl => Action::PageUp,
        KeyCode::Char('d') if ctrl => Action::PageDown,
        _ if ctrl => return None,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Action::Open,
        KeyCode::Esc | KeyCode::Left | KeyCode::Backspace | KeyCode::Char('h') => Action::Back,
        KeyCode::Tab => Action::NextTab,
        KeyCode::BackTab => Action::PrevTab,
        KeyCode::Char(c @ '1'..='5') => Action::Tab(Tab::ALL[usize::from(c as u8 - b'1')]),
        KeyCode::Char('/') => Action::Filter,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('S') => Action::SortReverse,
        KeyCode::Char('d') => Action::Dump,
        KeyCode::Char('f') => Action::Flamegraph,
        KeyCode::Char('p') => Action::Pause,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    };
    Some(action)
}

/// The action for a mouse event, if any.
pub(crate) fn mouse(event: MouseEvent) -> Option<Action> {
    match event.kind {
        MouseEventKind::ScrollUp => Some(Action::ScrollUp),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown),
        MouseEventKind::Down(MouseButton::Left) => {
            Some(Action::Click { column: event.column, row: event.row })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{
        KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
    };

    use super::{key, mouse};
    use crate::state::{Action, Mode, Tab as Screen};

    /// `check(mode, key code, modifiers, expected action)`.
    fn check(mode: Mode, code: KeyCode, modifiers: KeyModifiers, expected: Option<Action>) {
        let event = KeyEvent::new(code, modifiers);
        assert_eq!(key(mode, event), expected, "{mode:?} {code:?} {modifiers:?}");
    }

    #[test]
    fn normal_keys() {
        use KeyCode::*;
        let none = KeyModifiers::NONE;
        let shift = KeyModifiers::SHIFT;
        let ctrl = KeyModifiers::CONTROL;
        let n = Mode::Normal;
        check(n, Up, none, Some(Action::Up));
        check(n, Char('k'), none, Some(Action::Up));
        check(n, Down, none, Some(Action::Down));
        check(n, Char('j'), none, Some(Action::Down));
        check(n, PageDown, none, Some(Action::PageDown));
        check(n, Char('d'), ctrl, Some(Action::PageDown));
        check(n, Char('u'), ctrl, Some(Action::PageUp));
        check(n, Char('g'), none, Some(Action::Home));
        check(n, Char('G'), shift, Some(Action::End));
        check(n, Enter, none, Some(Action::Open));
        check(n, Char('l'), none, Some(Action::Open));
        check(n, Right, none, Some(Action::Open));
        check(n, Esc, none, Some(Action::Back));
        check(n, Char('h'), none, Some(Action::Back));
        check(n, Backspace, none, Some(Action::Back));
        check(n, Tab, none, Some(Action::NextTab));
        check(n, BackTab, shift, Some(Action::PrevTab));
        check(n, Char('1'), none, Some(Action::Tab(Screen::Overview)));
        check(n, Char('5'), none, Some(Action::Tab(Screen::Resources)));
        check(n, Char('6'), none, None);
        check(n, Char('/'), none, Some(Action::Filter));
        check(n, Char('s'), none, Some(Action::Sort));
        check(n, Char('S'), shift, Some(Action::SortReverse));
        check(n, Char('d'), none, Some(Action::Dump));
        check(n, Char('f'), none, Some(Action::Flamegraph));
        check(n, Char('p'), none, Some(Action::Pause));
        check(n, Char('?'), none, Some(Action::Help));
        check(n, Char('q'), none, Some(Action::Quit));
        check(n, Char('c'), ctrl, Some(Action::Quit));
        check(n, Char('x'), none, None);
        check(n, Char('x'), ctrl, None);
        check(Mode::Help, Char('?'), none, Some(Action::Help));
        check(Mode::Help, Esc, none, Some(Action::Back));
    }

    #[test]
    fn filter_keys_type() {
        use KeyCode::*;
        let none = KeyModifiers::NONE;
        let f = Mode::Filter;
        check(f, Char('q'), none, Some(Action::FilterChar('q')));
        check(f, Char('/'), none, Some(Action::FilterChar('/')));
        check(f, Char('S'), KeyModifiers::SHIFT, Some(Action::FilterChar('S')));
        check(f, Backspace, none, Some(Action::FilterBackspace));
        check(f, Enter, none, Some(Action::FilterDone));
        check(f, Esc, none, Some(Action::FilterCancel));
        check(f, Char('c'), KeyModifiers::CONTROL, Some(Action::Quit));
        check(f, Up, none, None);
    }

    #[test]
    fn only_y_confirms_a_dump() {
        use KeyCode::*;
        let none = KeyModifiers::NONE;
        let c = Mode::ConfirmDump;
        check(c, Char('y'), none, Some(Action::DumpConfirm));
        check(c, Char('Y'), KeyModifiers::SHIFT, Some(Action::DumpConfirm));
        check(c, Char('n'), none, Some(Action::DumpCancel));
        check(c, Char('d'), none, Some(Action::DumpCancel));
        check(c, Char('q'), none, Some(Action::DumpCancel));
        check(c, Enter, none, Some(Action::DumpCancel));
        check(c, Esc, none, Some(Action::DumpCancel));
        check(c, Char('y'), KeyModifiers::CONTROL, Some(Action::DumpCancel));
        // Ctrl-C still quits.
        check(c, Char('c'), KeyModifiers::CONTROL, Some(Action::Quit));
    }

    #[test]
    fn releases_are_ignored() {
        let mut event = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        event.kind = KeyEventKind::Release;
        assert_eq!(key(Mode::Normal, event), None);
    }

    #[test]
    fn mouse_events() {
        let at = |kind| MouseEvent { kind, column: 7, row: 3, modifiers: KeyModifiers::NONE };
        assert_eq!(mouse(at(MouseEventKind::ScrollUp)), Some(Action::ScrollUp));
        assert_eq!(mouse(at(MouseEventKind::ScrollDown)), Some(Action::ScrollDown));
        assert_eq!(
            mouse(at(MouseEventKind::Down(MouseButton::Left))),
            Some(Action::Click { column: 7, row: 3 })
        );
        assert_eq!(mouse(at(MouseEventKind::Down(MouseButton::Right))), None);
        assert_eq!(mouse(at(MouseEventKind::Moved)), None);
    }
}
