//! The whole UI state and its transitions: actions from the user, data from the engine, news
//! from the connection. Side effects (a dump request, the focused task, a flamegraph) are
//! queued as [`Effect`]s for the loop to carry out, so every transition is a plain function.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state::action::{Action, Mode, Tab};
use crate::state::background::{BUILD_ELSEWHERE, Background, Polled};
use crate::state::columns::{FindingColumn, GroupColumn, ResourceColumn};
use crate::state::data::{Data, Lists};
use crate::state::link::Link;
use crate::state::list::ListState;
use crate::state::lists::{ListView, ResourceList, build_findings, build_groups, resource_list};
use crate::state::tasks::{Scope, TasksPage};

/// How long a status message stays.
const MESSAGE_FOR: Duration = Duration::from_secs(6);
/// Rows a mouse wheel notch moves.
const WHEEL_ROWS: isize = 3;

/// One screen on the navigation stack.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Page {
    /// The Overview screen.
    Overview,
    /// The Groups screen.
    Groups,
    /// A list of tasks (all of them, or those of a group, finding or resource).
    Tasks(Box<TasksPage>),
    /// One task in detail.
    Task(TaskPage),
    /// The Findings screen.
    Findings,
    /// The Resources screen.
    Resources,
}

/// The task detail page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskPage {
    /// Which task.
    pub(crate) id: u64,
    /// Lines scrolled down.
    pub(crate) scroll: u16,
}

/// Something for the loop to do after a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Ask the target for a task dump.
    Dump,
    /// Tell the engine which task is shown in detail.
    Focus(Option<u64>),
    /// Write a flamegraph of these tasks' task-wait stacks (the engine builds them).
    Flamegraph(Option<Vec<u64>>),
}

/// Where things are on screen, for mouse clicks; computed by the view from the terminal size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// The row of the tab bar.
    pub(crate) tab_row: u16,
    /// Each tab's columns `[start, end)`.
    pub(crate) tabs: Vec<(u16, u16, Tab)>,
    /// The first row of the current list's rows.
    pub(crate) list_top: u16,
    /// How many rows of it are visible.
    pub(crate) list_height: u16,
    /// How far a scrolling page (the task detail) can scroll.
    pub(crate) scroll_max: u16,
    /// How far the `?` help can scroll (when its keys do not fit the screen).
    pub(crate) help_max: u16,
}

/// The UI state.
#[derive(Clone, Debug)]
pub(crate) struct App {
    /// The time of the latest event.
    pub(crate) now: Instant,
    /// What is shown.
    pub(crate) data: Arc<Data>,
    /// The newest data, held back while paused.
    held: Option<Arc<Data>>,
    /// The target's address.
    pub(crate) address: String,
    /// The connection.
    pub(crate) link: Link,
    /// The navigation stack; never empty, its bottom is a Tab's screen.
    pub(crate) pages: Vec<Page>,
    /// The Groups screen's list.
    pub(crate) groups: ListView<GroupColumn>,
    /// The Findings screen's list.
    pub(crate) findings: ListView<FindingColumn>,
    /// The Resources screen's list.
    pub(crate) resources: ListView<ResourceColumn>,
    /// How many resources there are of each kind, most numerous first.
    pub(crate) resource_kinds: Vec<(String, u64)>,
    /// What the waits say of each resource, by place in `resource_data.resources`.
    pub(crate) resource_stats: Vec<crate::state::ResourceStats>,
    /// The publication the Resources list was built from: its order and statistics are places
    /// in it (newer data may have others, until the list is built again).
    pub(crate) resource_data: Arc<Data>,
    /// A large Resources list being built off the screen's thread, for that publication;
    /// `resources_stale` when newer data came meanwhile.
    resource_build: Background<ResourceList, Arc<Data>>,
    resources_stale: bool,
    all_tasks: Option<Box<TasksPage>>,
    /// How keys are read.
    pub(crate) mode: Mode,
    /// Whether the screen is frozen.
    pub(crate) paused: bool,
    /// A status message and when it was set.
    pub(crate) message: Option<(String, Instant)>,
    /// Set when the user asked to quit.
    pub(crate) quit: bool,
    /// Where things are, for clicks.
    pub(crate) geometry: Geometry,
    /// Whether a flamegraph writer is installed.
    pub(crate) flamegraph: bool,
    /// Lines the `?` help is scrolled down.
    pub(crate) help_scroll: u16,
    effects: Vec<Effect>,
}

impl App {
    /// A UI attached to `address`, connected at `now`, opening on the Groups: a person who
    /// attaches to find a leak wants the groups first.
    pub(crate) fn new(address: impl Into<String>, now: Instant) -> Self {
        Self {
            now,
            data: Arc::new(Data::default()),
            held: None,
            address: address.into(),
            link: Link::Connected { since: now },
            pages: vec![Page::Groups],
            groups: ListView::new(GroupColumn::Severity),
            findings: ListView::new(FindingColumn::Severity),
            resources: ListView::new(ResourceColumn::Waiters),
            resource_kinds: Vec::new(),
            resource_stats: Vec::new(),
            resource_data: Arc::default(),
            resource_build: Background::default(),
            resources_stale: false,
            all_tasks: None,
            mode: Mode::Normal,
            paused: false,
            message: None,
            quit: false,
            geometry: Geometry::default(),
            flamegraph: false,
            help_scroll: 0,
            effects: Vec::new(),
        }
    }

    /// The screen on top of the stack.
    pub(crate) fn page(&self) -> &Page {
        self.pages.last().unwrap_or(&Page::Groups)
    }

    /// The lists the screens on the stack show, which the engine publishes.
    pub(crate) fn lists(&self) -> Lists {
        Lists {
            tasks: self.pages.iter().any(|page| matches!(page, Page::Tasks(_))),
            resources: self.pages.iter().any(|page| matches!(page, Page::Resources)),
        }
    }

    /// The Tab the stack started from.
    pub(crate) fn tab(&self) -> Tab {
        match self.pages.first() {
            Some(Page::Groups) => Tab::Groups,
            Some(Page::Tasks(_) | Page::Task(_)) => Tab::Tasks,
            Some(Page::Findings) => Tab::Findings,
            Some(Page::Resources) => Tab::Resources,
            Some(Page::Overview) | None => Tab::Overview,
        }
    }

    /// The effects queued by the transitions so far.
    pub(crate) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The current status message, if it is fresh.
    pub(crate) fn message(&self) -> Option<&str> {
        self.message
            .as_ref()
            .filter(|(_, at)| self.now.saturating_duration_since(*at) < MESSAGE_FOR)
            .map(|(text, _)| text.as_str())
    }

    /// Shows a status message.
    pub(crate) fn notice(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), self.now));
    }

    /// Time passes: refreshes what follows the data on a schedule.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.now = now;
        self.refresh_tasks();
        self.take_resources();
    }

    /// New data from the engine (held back while paused).
    pub(crate) fn on_data(&mut self, data: Arc<Data>) {
        if self.paused {
            if let Some(old) = self.held.replace(data) {
                drop_elsewhere(old);
            }
            return;
        }
        drop_elsewhere(std::mem::replace(&mut self.data, data));
        self.rebuild_lists();
    }

    /// The target answered (again).
    pub(crate) fn connected(&mut self) {
        if !self.link.is_connected() {
            self.notice(format!("reconnected to {}", self.address));
        }
        self.link = Link::Connected { since: self.now };
    }

    /// The target went away; the feed retries after `retry_in`.
    pub(crate) fn retrying(&mut self, reason: impl Into<String>, attempt: u32, retry_in: Duration) {
        self.link =
            Link::Retrying { reason: reason.into(), attempt, retry_at: self.now + retry_in };
    }

    /// Sets where things are on screen (before input is handled and before drawing).
    pub(crate) fn set_geometry(&mut self, geometry: Geometry) {
        let height = usize::from(geometry.list_height);
        // A larger screen shows more of the help: it cannot stay scrolled past its end.
        self.help_scroll = self.help_scroll.min(geometry.help_max);
        self.geometry = geometry;
        if let Some((list, len)) = self.list_mut() {
            list.set_height(height, len);
        }
        self.clamp_scroll();
    }

    fn clamp_scroll(&mut self) {
        let max = self.geometry.scroll_max;
        if let Page::Task(task) = self.top_mut() {
            task.scroll = task.scroll.min(max);
        }
    }

    /// Carries out one action.
    pub(crate) fn handle(&mut self, action: Action) {
        match self.mode {
            Mode::Help => {
                let max = self.geometry.help_max;
                let scroll = &mut self.help_scroll;
                match action {
                    Action::Quit => self.quit = true,
                    Action::Help | Action::Back | Action::FilterCancel | Action::Open => {
                        self.mode = Mode::Normal;
                    }
                    // A help longer than the screen scrolls.
                    Action::Up | Action::ScrollUp => *scroll = scroll.saturating_sub(1),
                    Action::Down | Action::ScrollDown => *scroll = (*scroll + 1).min(max),
                    Action::PageUp | Action::Home => *scroll = 0,
                    Action::PageDown | Action::End => *scroll = max,
                    _ => {}
                }
            }
            Mode::Filter => self.handle_filter(action),
            Mode::ConfirmDump => {
                self.mode = Mode::Normal;
                match action {
                    Action::DumpConfirm => {
                        self.effects.push(Effect::Dump);
                        self.notice("taking a task dump…");
                    }
                    Action::Quit => self.quit = true,
                    _ => self.notice("no task dump taken"),
                }
            }
            Mode::Normal => self.handle_normal(action),
        }
    }

    fn handle_normal(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::Help => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::ScrollUp => self.move_by(-WHEEL_ROWS),
            Action::ScrollDown => self.move_by(WHEEL_ROWS),
            Action::PageUp | Action::PageDown => {
                let down = action == Action::PageDown;
                if let Page::Task(task) = self.top_mut() {
                    let step = 10;
                    task.scroll = if down {
                        task.scroll.saturating_add(step)
                    } else {
                        task.scroll.saturating_sub(step)
                    };
                } else if let Some((list, len)) = self.list_mut() {
                    list.page(down, len);
                }
            }
            Action::Home | Action::End => {
                let end = action == Action::End;
                if let Page::Task(task) = self.top_mut() {
                    task.scroll = if end { u16::MAX } else { 0 };
                    self.clamp_scroll();
                } else if let Some((list, len)) = self.list_mut() {
                    if end { list.end(len) } else { list.home(len) }
                }
            }
            Action::Open => self.open(),
            Action::Back => self.back(),
            Action::NextTab => self.switch_tab(self.tab().step(1)),
            Action::PrevTab => self.switch_tab(self.tab().step(-1)),
            Action::Tab(tab) => self.switch_tab(tab),
            Action::Filter => {
                if self.filter_mut().is_some() {
                    self.mode = Mode::Filter;
                } else {
                    self.notice("this screen has no filter");
                }
            }
            Action::Sort | Action::SortReverse => self.sort(action == Action::SortReverse),
            // A dump pauses every worker of the app and can wedge a busy runtime: ask first.
            Action::Dump => self.mode = Mode::ConfirmDump,
            Action::Flamegraph => self.flamegraph(),
            Action::Pause => {
                self.paused = !self.paused;
                if !self.paused
                    && let Some(held) = self.held.take()
                {
                    self.on_data(held);
                }
            }
            Action::Click { column, row } => self.click(column, row),
            Action::FilterChar(_)
            | Action::FilterBackspace
            | Action::FilterDone
            | Action::FilterCancel
            | Action::DumpConfirm
            | Action::DumpCancel => {}
        }
    }

    fn handle_filter(&mut self, action: Action) {
        match action {
            Action::FilterChar(c) => self.edit_filter(|f| f.push(c)),
            Action::FilterBackspace => self.edit_filter(|f| {
                f.pop();
            }),
            Action::FilterDone => self.mode = Mode::Normal,
            Action::FilterCancel => {
                self.edit_filter(String::clear);
                self.mode = Mode::Normal;
            }
            Action::Quit => self.quit = true,
            _ => {}
        }
    }

    fn edit_filter(&mut self, edit: impl FnOnce(&mut String)) {
        if let Some(filter) = self.filter_mut() {
            edit(filter);
            if let Some((list, len)) = self.list_mut() {
                list.home(len);
            }
            self.rebuild_current();
        }
    }

    /// The current page's filter text, if it has a filter.
    pub(crate) fn filter(&self) -> Option<&str> {
        match self.page() {
            Page::Groups => Some(&self.groups.filter),
            Page::Findings => Some(&self.findings.filter),
            Page::Resources => Some(&self.resources.filter),
            Page::Tasks(page) => Some(&page.filter),
            Page::Overview | Page::Task(_) => None,
        }
    }

    fn filter_mut(&mut self) -> Option<&mut String> {
        match self.pages.last_mut()? {
            Page::Groups => Some(&mut self.groups.filter),
            Page::Findings => Some(&mut self.findings.filter),
            Page::Resources => Some(&mut self.resources.filter),
            Page::Tasks(page) => Some(&mut page.filter),
            Page::Overview | Page::Task(_) => None,
        }
    }

    fn top_mut(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::Overview);
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// The current page's list and its length.
    fn list_mut(&mut self) -> Option<(&mut ListState, usize)> {
        match self.pages.last_mut()? {
            Page::Groups => Some((&mut self.groups.list, self.groups.order.len())),
            Page::Findings => Some((&mut self.findings.list, self.findings.order.len())),
            Page::Resources => Some((&mut self.resources.list, self.resources.order.len())),
            Page::Tasks(page) => {
                let len = page.ids.len();
                Some((&mut page.list, len))
            }
            Page::Overview | Page::Task(_) => None,
        }
    }

    fn move_by(&mut self, delta: isize) {
        if let Page::Task(task) = self.top_mut() {
            task.scroll = task.scroll.saturating_add_signed(delta as i16);
            self.clamp_scroll();
        } else if let Some((list, len)) = self.list_mut() {
            list.move_by(delta, len);
        }
    }

    fn sort(&mut self, reverse: bool) {
        macro_rules! resort {
            ($sort:expr) => {
                if reverse { $sort.flip() } else { $sort.next() }
            };
        }
        match self.pages.last_mut() {
            Some(Page::Groups) => resort!(self.groups.sort),
            Some(Page::Findings) => resort!(self.findings.sort),
            Some(Page::Resources) => resort!(self.resources.sort),
            Some(Page::Tasks(page)) => resort!(page.sort),
            _ => {
                self.notice("this screen has nothing to sort");
                return;
            }
        }
        self.rebuild_current();
        // A new order starts at its top: the first rows are what the sort is for. (New data
        // keeps the selection on its row instead.)
        if let Some((list, len)) = self.list_mut() {
            list.home(len);
        }
    }

    /// Rebuilds the current page's list now (after its filter or sort changed).
    fn rebuild_current(&mut self) {
        let data = Arc::clone(&self.data);
        let now = self.now;
        match self.pages.last_mut() {
            Some(Page::Groups) => build_groups(&mut self.groups, &data),
            Some(Page::Findings) => build_findings(&mut self.findings, &data),
            Some(Page::Resources) => {
                self.resource_build.clear();
                self.build_resources();
            }
            Some(Page::Tasks(page)) => {
                page.invalidate();
                page.refresh(&data, now);
            }
            _ => {}
        }
    }

    /// Rebuilds the lists that follow the data (cheap ones always; the resources only while
    /// their screen is open, since a leaking app may have a million, and switching to it builds
    /// them; the shown task list on its own schedule).
    fn rebuild_lists(&mut self) {
        let data = Arc::clone(&self.data);
        build_groups(&mut self.groups, &data);
        build_findings(&mut self.findings, &data);
        if self.pages.iter().any(|page| matches!(page, Page::Resources)) {
            if self.resource_build.running() {
                self.resources_stale = true;
            } else {
                self.build_resources();
            }
        } else if !self.resource_stats.is_empty() || self.resource_build.running() {
            // Off screen: let the publication go, or every chunk of resources the model changes
            // would stay alive twice, once in it.
            self.resource_build.clear();
            self.resource_kinds = Vec::new();
            self.resource_stats = Vec::new();
            self.resources.order = Vec::new();
            drop_elsewhere(std::mem::take(&mut self.resource_data));
        }
        self.refresh_tasks();
    }

    /// Whether the Resources list is being built off the screen's thread.
    pub(crate) fn resources_building(&self) -> bool {
        self.resource_build.running()
    }

    /// Builds the Resources list of the data shown: at once when it is short, else on a thread
    /// of its own (the screen keeps the list it has meanwhile).
    fn build_resources(&mut self) {
        let data = Arc::clone(&self.data);
        self.resources_stale = false;
        if data.resources.len() >= BUILD_ELSEWHERE {
            let (filter, sort) = (self.resources.filter.clone(), self.resources.sort);
            let source = Arc::clone(&data);
            let key = Arc::clone(&data);
            if self.resource_build.start(key, move || resource_list(&filter, sort, &source)) {
                return;
            }
        }
        let list = resource_list(&self.resources.filter, self.resources.sort, &data);
        self.show_resources(list, data);
    }

    /// Takes a Resources list built in the background, if it is there, and starts the next when
    /// newer data came meanwhile.
    fn take_resources(&mut self) {
        match self.resource_build.poll() {
            Polled::Done(list, data) => {
                self.show_resources(list, data);
                if self.resources_stale && matches!(self.pages.last(), Some(Page::Resources)) {
                    self.build_resources();
                }
            }
            Polled::Lost => self.build_resources(),
            Polled::Idle | Polled::Running => {}
        }
    }

    /// Shows a list built for `data`, keeping the selected resource selected.
    fn show_resources(&mut self, list: ResourceList, data: Arc<Data>) {
        let old = self.resources.selected().and_then(|i| self.resource_data.resources.get(i));
        let old = old.map(|r| r.id);
        self.resources.reorder(list.order, |i| data.resources.get(i).map(|r| r.id), old);
        self.resource_kinds = list.kinds;
        self.resource_stats = list.stats;
        self.resource_data = data;
    }

    fn refresh_tasks(&mut self) {
        let data = Arc::clone(&self.data);
        let now = self.now;
        if let Some(Page::Tasks(page)) = self.pages.last_mut() {
            page.refresh(&data, now);
        }
    }

    fn push(&mut self, page: Page) {
        if let Page::Task(task) = &page {
            self.effects.push(Effect::Focus(Some(task.id)));
        }
        self.pages.push(page);
        self.rebuild_current();
        let height = usize::from(self.geometry.list_height);
        if let Some((list, len)) = self.list_mut() {
            list.set_height(height, len);
        }
    }

    fn open(&mut self) {
        let data = Arc::clone(&self.data);
        let page = match self.page() {
            Page::Groups => {
                let group =
                    self.groups.selected().and_then(|i| data.report.as_ref()?.groups.get(i));
                group.map(|g| {
                    Page::Tasks(Box::new(TasksPage::new(Scope::Group {
                        location: g.location.clone(),
                        waiting_on: g.waiting_on.clone(),
                    })))
                })
            }
            Page::Findings => {
                let finding =
                    self.findings.selected().and_then(|i| data.report.as_ref()?.findings.get(i));
                finding.map(|f| {
                    Page::Tasks(Box::new(TasksPage::new(Scope::Finding {
                        label: format!("{} {} at {}", f.severity, f.kind, f.location),
                        location: f.location.clone(),
                        waiting_on: f.waiting_on.clone(),
                        ids: f.task_ids.clone(),
                    })))
                })
            }
            Page::Resources => {
                // The list's places are in the publication it was built from.
                let data = &self.resource_data;
                let i = self.resources.selected();
                let found =
                    i.and_then(|i| Some((data.resources.get(i)?, self.resource_stats.get(i)?)));
                found.map(|(r, stats)| {
                    let mut ids: Vec<u64> = data
                        .waits
                        .iter()
                        .filter(|w| w.resource_id == r.id)
                        .map(|w| w.task_id)
                        .collect();
                    if r.holder_task_id != 0 {
                        ids.push(r.holder_task_id);
                    }
                    let label = crate::state::lists::label(r, stats.acquired);
                    Page::Tasks(Box::new(TasksPage::new(Scope::Ids {
                        label: format!("waiters and holder of {label} {}", r.id),
                        ids,
                    })))
                })
            }
            Page::Tasks(page) => page.selected().map(|id| Page::Task(TaskPage { id, scroll: 0 })),
            Page::Overview => Some(Page::Groups),
            Page::Task(_) => None,
        };
        let Some(page) = page else { return };
        if matches!(page, Page::Groups) {
            self.switch_tab(Tab::Groups);
        } else {
            self.push(page);
        }
    }

    fn back(&mut self) {
        if self.pages.len() > 1 {
            if let Some(Page::Task(_)) = self.pages.pop() {
                self.effects.push(Effect::Focus(None));
            }
            self.rebuild_current();
        }
    }

    fn switch_tab(&mut self, tab: Tab) {
        if self.pages.iter().any(|p| matches!(p, Page::Task(_))) {
            self.effects.push(Effect::Focus(None));
        }
        if let Some(Page::Tasks(page)) = self.pages.first()
            && page.scope == Scope::All
        {
            self.all_tasks = Some(page.clone());
        }
        let page = match tab {
            Tab::Overview => Page::Overview,
            Tab::Groups => Page::Groups,
            Tab::Tasks => Page::Tasks(
                self.all_tasks.take().unwrap_or_else(|| Box::new(TasksPage::new(Scope::All))),
            ),
            Tab::Findings => Page::Findings,
            Tab::Resources => Page::Resources,
        };
        self.pages = vec![page];
        self.mode = Mode::Normal;
        self.rebuild_current();
        let height = usize::from(self.geometry.list_height);
        if let Some((list, len)) = self.list_mut() {
            list.set_height(height, len);
        }
    }

    fn click(&mut self, column: u16, row: u16) {
        if row == self.geometry.tab_row {
            let tab =
                self.geometry.tabs.iter().find(|(start, end, _)| (*start..*end).contains(&column));
            if let Some(&(_, _, tab)) = tab {
                self.switch_tab(tab);
            }
            return;
        }
        let top = self.geometry.list_top;
        if row < top || row >= top + self.geometry.list_height {
            return;
        }
        let Some((list, len)) = self.list_mut() else { return };
        let index = list.offset + usize::from(row - top);
        if index >= len {
            return;
        }
        if index == list.selected {
            self.open();
        } else {
            list.select(index, len);
        }
    }

    /// The tasks on screen; `None`: every live task.
    fn tasks_on_screen(&self) -> Option<Vec<u64>> {
        match self.page() {
            Page::Task(task) => Some(vec![task.id]),
            Page::Tasks(page) => Some(page.ids.clone()),
            _ => None,
        }
    }

    fn flamegraph(&mut self) {
        if !self.flamegraph {
            self.notice(
                "flamegraphs are not available in this build yet (they come with CPU profiles)",
            );
            return;
        }
        let ids = self.tasks_on_screen();
        if ids.as_ref().is_some_and(Vec::is_empty) {
            self.notice("no tasks on screen to draw");
            return;
        }
        self.effects.push(Effect::Flamegraph(ids));
    }
}

/// Drops data the screen no longer shows, off the UI thread when this is its last holder: the
/// last reference to a million resources or task rows is tens of milliseconds of frees, which on
/// this thread would be a frame's worth (the 1M attach's frame p99 went from under 1 ms to 59 ms
/// once the engine stopped being the one to free them).
fn drop_elsewhere(data: Arc<Data>) {
    const LARGE: usize = 100_000;
    if Arc::strong_count(&data) > 1 || data.tasks.len() + data.resources.len() < LARGE {
        return;
    }
    let spawned =
        std::thread::Builder::new().name("leakscope-drop".into()).spawn(move || drop(data));
    // No thread to be had: the frees happen here, as they did before.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{App, Effect, Geometry, Page};
    use crate::fixture;
    use crate::state::{Action, Mode, Tab};

    /// The app as a line: the page stack (with list sizes and selections), the mode, pause.
    fn describe(app: &App) -> String {
        let pages: Vec<String> = app
            .pages
            .iter()
            .map(|page| match page {
                Page::Overview => "Overview".to_owned(),
                Page::Groups => {
                    format!("Groups[{}/{}]", app.groups.list.selected, app.groups.order.len())
                }
                Page::Findings => {
                    format!("Findings[{}/{}]", app.findings.list.selected, app.findings.order.len())
                }
                Page::Resources => {
                    format!(
                        "Resources[{}/{}]",
                        app.resources.list.selected,
                        app.resources.order.len()
                    )
                }
                Page::Tasks(tasks) => {
                    format!("Tasks({}){:?}@{}", tasks.scope.title(), tasks.ids, tasks.list.selected)
                }
                Page::Task(task) => format!("Task({})", task.id),
            })
            .collect();
        let mut text = pages.join(" > ");
        if app.mode != Mode::Normal {
            text.push_str(&format!(" {:?}", app.mode));
        }
        if app.paused {
            text.push_str(" paused");
        }
        if app.quit {
            text.push_str(" quit");
        }
        text
    }

    /// Runs `actions` on the fixture app (list height 5) and checks the resulting description
    /// and the effects queued.
    fn check(actions: &[Action], expected: &str, effects: &[Effect]) {
        let mut app = fixture::app();
        app.set_geometry(Geometry {
            tab_row: 1,
            tabs: vec![(1, 11, Tab::Overview), (12, 21, Tab::Groups)],
            list_top: 4,
            list_height: 5,
            scroll_max: 0,
            help_max: 0,
        });
        for action in actions {
            app.handle(*action);
        }
        assert_eq!(describe(&app), expected, "{actions:?}");
        assert_eq!(app.take_effects(), effects, "{actions:?}");
    }

    use Action::*;

    /// Key 2: the Groups screen (the UI opens on it, too).
    const GROUPS: Action = Action::Tab(crate::state::Tab::Groups);

    #[test]
    fn tabs_cycle_and_jump() {
        // The UI opens on the Groups: a person who attaches to find a leak wants them first.
        check(&[], "Groups[0/5]", &[]);
        check(&[NextTab], "Tasks(all tasks)[10, 11, 30, 12, 31, 20, 21, 22, 1]@0", &[]);
        check(&[NextTab, NextTab, NextTab, NextTab, NextTab], "Groups[0/5]", &[]);
        check(&[PrevTab], "Overview", &[]);
        check(&[PrevTab, PrevTab], "Resources[0/5]", &[]);
        check(&[Tab(crate::state::Tab::Findings)], "Findings[0/4]", &[]);
        check(
            &[Tab(crate::state::Tab::Tasks)],
            "Tasks(all tasks)[10, 11, 30, 12, 31, 20, 21, 22, 1]@0",
            &[],
        );
        // Enter on the Overview goes to the Groups.
        check(&[Tab(crate::state::Tab::Overview), Open], "Groups[0/5]", &[]);
    }

    #[test]
    fn drill_down_and_back() {
        let stuck = "Tasks(src/handler.rs:42:5 · mpsc::Sender::send)[10, 11, 12]";
        check(&[GROUPS, Down, Open], &format!("Groups[1/5] > {stuck}@0"), &[]);
        check(
            &[GROUPS, Down, Open, Down, Open],
            &format!("Groups[1/5] > {stuck}@1 > Task(11)"),
            &[Effect::Focus(Some(11))],
        );
        check(
            &[GROUPS, Down, Open, Open],
            &format!("Groups[1/5] > {stuck}@0 > Task(10)"),
            &[Effect::Focus(Some(10))],
        );
        check(
            &[GROUPS, Down, Open, Open, Back],
            &format!("Groups[1/5] > {stuck}@0"),
            &[Effect::Focus(Some(10)), Effect::Focus(None)],
        );
        check(&[GROUPS, Down, Open, Back, Back, Back], "Groups[1/5]", &[]);
        // Switching screens from a task's detail drops the focus.
        check(
            &[GROUPS, Down, Open, Open, NextTab],
            "Tasks(all tasks)[10, 11, 30, 12, 31, 20, 21, 22, 1]@0",
            &[Effect::Focus(Some(10)), Effect::Focus(None)],
        );
        // A finding's tasks; a resource's waiters and holder.
        check(
            &[Tab(crate::state::Tab::Findings), Open],
            "Findings[0/4] > Tasks(leak lost-waker at src/poller.rs:10:9)[30, 31]@0",
            &[],
        );
        check(
            &[Tab(crate::state::Tab::Resources), Down, Open],
            "Resources[1/5] > Tasks(waiters and holder of Mutex 9223372041149743184)[20, 21, 22]@0",
            &[],
        );
    }

    #[test]
    fn the_resources_are_listed_only_while_their_screen_is_open() {
        let mut app = fixture::app();
        // Not on screen: a million resources are not sorted and labelled for nothing.
        assert!(app.resource_kinds.is_empty() && app.resources.order.is_empty());
        app.handle(Tab(crate::state::Tab::Resources));
        assert_eq!(describe(&app), "Resources[0/5]");
        assert!(!app.resource_kinds.is_empty());
        // Below a screen opened from it, the list still follows the data: fewer resources
        // arrive, and going back shows those, not positions in the old list.
        app.handle(Down);
        app.handle(Open);
        let mut fewer = (*fixture::data(None)).clone();
        fewer.resources = leakscope_analysis::Chunked::from_sorted(
            fewer.resources.iter().take(2).cloned().collect(),
        );
        app.on_data(std::sync::Arc::new(fewer));
        app.handle(Back);
        assert_eq!(describe(&app), "Resources[1/2]");
        // Off the stack, the publication it was built from is let go with the next data: it
        // shares the model's resource chunks, and would keep the ones the model replaces.
        app.handle(Tab(crate::state::Tab::Groups));
        app.on_data(fixture::data(None));
        assert!(app.resource_stats.is_empty() && app.resource_data.resources.is_empty());
    }

    /// A Resources list too long to sort between two frames is sorted on a thread of its own;
    /// the screen says so and takes the order at a tick.
    #[test]
    fn a_large_resource_list_is_sorted_off_the_screens_thread() {
        use crate::state::background::BUILD_ELSEWHERE;
        use leakscope_proto::v1::{Resource, ResourceKind};
        let mut app = fixture::app();
        let mut data = (*fixture::data(None)).clone();
        let n = BUILD_ELSEWHERE as u64 + 5;
        data.resources = leakscope_analysis::Chunked::from_sorted(
            (1..=n)
                .map(|id| Resource {
                    id,
                    kind: ResourceKind::Oneshot as i32,
                    ..Resource::default()
                })
                .collect(),
        );
        app.on_data(std::sync::Arc::new(data));
        app.handle(Tab(crate::state::Tab::Resources));
        assert!(app.resources_building() && app.resources.order.is_empty());
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while app.resources_building() {
            assert!(std::time::Instant::now() < deadline, "no order within a minute");
            std::thread::sleep(Duration::from_millis(2));
            app.tick(std::time::Instant::now());
        }
        assert_eq!(app.resources.order.len() as u64, n);
        assert_eq!(app.resource_kinds, [("oneshot channel".to_owned(), n)]);
        assert_eq!(app.resource_data.resources.len() as u64, n);
    }

    #[test]
    fn selection_moves_within_the_list() {
        check(&[GROUPS, Up], "Groups[0/5]", &[]);
        check(&[GROUPS, End], "Groups[4/5]", &[]);
        check(&[GROUPS, End, Down, Down], "Groups[4/5]", &[]);
        check(&[GROUPS, PageDown], "Groups[4/5]", &[]);
        check(&[GROUPS, ScrollDown, ScrollUp, Down], "Groups[1/5]", &[]);
        // Clicks: a row selects it, the selected row opens, the tab bar switches.
        check(&[GROUPS, Click { column: 3, row: 6 }], "Groups[2/5]", &[]);
        check(
            &[GROUPS, Click { column: 3, row: 5 }, Click { column: 3, row: 5 }],
            "Groups[1/5] > Tasks(src/handler.rs:42:5 · mpsc::Sender::send)[10, 11, 12]@0",
            &[],
        );
        check(&[GROUPS, Click { column: 3, row: 20 }], "Groups[0/5]", &[]);
        check(&[GROUPS, Click { column: 5, row: 1 }], "Overview", &[]);
        check(&[Click { column: 5, row: 1 }, Click { column: 14, row: 1 }], "Groups[0/5]", &[]);
    }

    #[test]
    fn filter_sort_and_modes() {
        let all = crate::state::Tab::Tasks;
        check(
            &[Tab(all), Filter],
            "Tasks(all tasks)[10, 11, 30, 12, 31, 20, 21, 22, 1]@0 Filter",
            &[],
        );
        check(
            &[Tab(all), Filter, FilterChar('m'), FilterChar('u')],
            "Tasks(all tasks)[21, 22]@0 Filter",
            &[],
        );
        check(
            &[
                Tab(all),
                Filter,
                FilterChar('m'),
                FilterChar('u'),
                FilterBackspace,
                FilterBackspace,
                FilterChar('q'),
            ],
            "Tasks(all tasks)[]@0 Filter",
            &[],
        );
        // Typing `q` in the filter is a letter; Enter keeps the filter, Esc clears it.
        check(
            &[Tab(all), Filter, FilterChar('r'), FilterChar('u'), FilterChar('n'), FilterDone],
            "Tasks(all tasks)[1]@0",
            &[],
        );
        check(
            &[Tab(all), Filter, FilterChar('r'), FilterCancel],
            "Tasks(all tasks)[10, 11, 30, 12, 31, 20, 21, 22, 1]@0",
            &[],
        );
        // Filters match finding kinds, states and names too.
        check(
            &[
                Tab(all),
                Filter,
                FilterChar('s'),
                FilterChar('t'),
                FilterChar('u'),
                FilterChar('c'),
                FilterDone,
            ],
            "Tasks(all tasks)[10, 11, 12]@0",
            &[],
        );
        check(
            &[Tab(all), Filter, FilterChar('r'), FilterChar('e'), FilterChar('f'), FilterDone],
            "Tasks(all tasks)[20, 21, 22]@0",
            &[],
        );
        // `s` moves the sort to the next column (IDLE → AGE), `S` reverses it; either puts the
        // cursor on the first row of the new order, where what the sort is for is.
        check(&[Tab(all), Sort], "Tasks(all tasks)[1, 10, 11, 30, 12, 31, 20, 21, 22]@0", &[]);
        check(
            &[Tab(all), SortReverse],
            "Tasks(all tasks)[1, 21, 22, 20, 31, 12, 30, 11, 10]@0",
            &[],
        );
        check(
            &[Tab(all), Down, Down, SortReverse],
            "Tasks(all tasks)[1, 21, 22, 20, 31, 12, 30, 11, 10]@0",
            &[],
        );
        check(&[GROUPS, Down, Down, Sort, Sort], "Groups[0/5]", &[]);
        check(&[Tab(crate::state::Tab::Resources), End, Sort], "Resources[0/5]", &[]);
        // Help: most keys close it, q still quits.
        check(&[Help], "Groups[0/5] Help", &[]);
        check(&[Help, Down, Help], "Groups[0/5]", &[]);
        check(&[Help, Quit], "Groups[0/5] Help quit", &[]);
        check(&[Tab(crate::state::Tab::Overview), Filter], "Overview", &[]);
    }

    #[test]
    fn a_dump_needs_a_yes() {
        // `d` only asks; `y` takes the dump; anything else (keys, clicks) cancels.
        check(&[Dump], "Groups[0/5] ConfirmDump", &[]);
        check(&[Dump, DumpConfirm], "Groups[0/5]", &[Effect::Dump]);
        check(&[Dump, DumpCancel], "Groups[0/5]", &[]);
        check(&[GROUPS, Dump, Down], "Groups[0/5]", &[]);
        check(&[GROUPS, Dump, Click { column: 3, row: 6 }], "Groups[0/5]", &[]);
        check(&[Dump, Quit], "Groups[0/5] quit", &[]);
        // A stray yes outside the confirmation does nothing.
        check(&[DumpConfirm], "Groups[0/5]", &[]);
        let mut app = fixture::app();
        app.handle(Dump);
        app.handle(DumpCancel);
        assert_eq!(app.message(), Some("no task dump taken"));
        app.handle(Dump);
        app.handle(DumpConfirm);
        assert_eq!(app.message(), Some("taking a task dump…"));
    }

    #[test]
    fn pause_holds_data_back() {
        let mut app = fixture::app();
        app.handle(Action::Pause);
        let held = fixture::data(Some(10));
        app.on_data(held.clone());
        assert!(app.data.focus.is_none(), "the screen is frozen");
        app.handle(Action::Pause);
        assert!(app.data.focus.is_some(), "resuming shows the newest data");
        assert_eq!(describe(&app), "Groups[0/5]");
    }

    #[test]
    fn connection_news() {
        let mut app = fixture::app();
        assert!(app.link.is_connected());
        app.retrying("refused", 2, Duration::from_secs(3));
        assert_eq!(app.link.describe(app.now), "disconnected, retrying in 3s (attempt 2)");
        assert_eq!(app.link.reason(), Some("refused"));
        app.now += Duration::from_secs(3);
        assert_eq!(app.link.describe(app.now), "disconnected, retrying now (attempt 2)");
        app.connected();
        assert!(app.link.is_connected());
        assert_eq!(app.message(), Some("reconnected to 127.0.0.1:6669"));
        app.now += Duration::from_secs(10);
        assert_eq!(app.message(), None, "messages expire");
    }

    #[test]
    fn flamegraph_needs_a_writer_and_stacks() {
        let mut app = fixture::app();
        app.handle(Action::Flamegraph);
        assert!(app.message().unwrap().contains("not available"));
        assert!(app.take_effects().is_empty());
        app.flamegraph = true;
        app.handle(Action::Flamegraph);
        let effects = app.take_effects();
        let [Effect::Flamegraph(ids)] = effects.as_slice() else { panic!("{effects:?}") };
        // The tasks on the Groups screen: every live task.
        assert_eq!(ids, &None);
    }

    #[test]
    fn dumps_are_taken_only_when_asked() {
        // A task dump pauses every worker of the app (and can upset tokio's scheduler), so the
        // UI never takes one on its own: not on connecting, not on opening a task.
        let mut app = App::new(fixture::ADDRESS, std::time::Instant::now());
        app.on_data(fixture::data(None));
        app.handle(Action::Tab(Tab::Groups));
        app.handle(Action::Open);
        app.handle(Action::Open);
        assert_eq!(app.take_effects(), [Effect::Focus(Some(30))]);
        app.handle(Action::Dump);
        assert!(app.take_effects().is_empty(), "`d` only asks");
        app.handle(Action::DumpConfirm);
        assert_eq!(app.take_effects(), [Effect::Dump]);
    }
}
