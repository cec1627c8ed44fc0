//! Every screen drawn from the fixture app into a `TestBackend` and compared with its snapshot
//! (`cargo insta review` after an intended change).

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use crate::fixture;
use crate::state::{Action, App, Effect, Tab};
use crate::view::{draw, geometry};

/// Draws `app` on a `width`x`height` screen and returns the screen as text.
fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.set_geometry(geometry(Rect::new(0, 0, width, height), app));
    terminal.draw(|frame| draw(frame, app)).unwrap();
    terminal.backend().to_string()
}

/// The fixture after `actions`, drawn at `width`x`height`.
fn screen_at(actions: &[Action], width: u16, height: u16) -> String {
    let mut app = fixture::app();
    render(&mut app, width, height);
    for action in actions {
        app.handle(*action);
    }
    render(&mut app, width, height)
}

/// The fixture after `actions`, drawn at 80x24 (the smallest supported screen).
fn screen(actions: &[Action]) -> String {
    screen_at(actions, 80, 24)
}

/// The fixture after `actions` at 80x24 and at 160x45 (a large terminal), one picture after
/// the other.
fn both(actions: &[Action]) -> (String, String) {
    (screen_at(actions, 80, 24), screen_at(actions, 160, 45))
}

/// Line `n` of a drawn screen, without the quotes the test backend puts around it.
fn line(screen: &str, n: usize) -> &str {
    screen.lines().nth(n).unwrap_or_default().trim_matches('"')
}

fn pictures((small, large): &(String, String)) -> String {
    format!("80x24\n{small}\n160x45\n{large}")
}

#[test]
fn overview() {
    insta::assert_snapshot!(pictures(&both(&[Action::Tab(Tab::Overview)])));
}

/// The UI opens on the Groups (key 2), not the Overview.
#[test]
fn groups() {
    let screens = both(&[]);
    for screen in [&screens.0, &screens.1] {
        assert!(line(screen, 2).starts_with(" Groups 5 of 5"), "{screen}");
    }
    insta::assert_snapshot!(pictures(&screens));
}

#[test]
fn tasks() {
    insta::assert_snapshot!(pictures(&both(&[Action::Tab(Tab::Tasks)])));
}

#[test]
fn tasks_of_a_group_sorted_by_id() {
    insta::assert_snapshot!(screen(&[
        Action::Tab(Tab::Groups),
        Action::Down,
        Action::Open,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
        Action::Sort,
    ]));
}

#[test]
fn tasks_filtered() {
    insta::assert_snapshot!(screen(&[
        Action::Tab(Tab::Tasks),
        Action::Filter,
        Action::FilterChar('l'),
        Action::FilterChar('o'),
        Action::FilterChar('s'),
        Action::FilterChar('t'),
    ]));
}

/// The task detail, once the engine has published the focused task.
fn detail(width: u16, height: u16, scroll: u16) -> String {
    let mut app = fixture::app();
    render(&mut app, width, height);
    // The second group: the stuck senders.
    app.handle(Action::Tab(Tab::Groups));
    app.handle(Action::Down);
    app.handle(Action::Open);
    app.handle(Action::Open);
    let effects = app.take_effects();
    let focus = effects.iter().find_map(|e| match e {
        Effect::Focus(id) => *id,
        _ => None,
    });
    assert_eq!(focus, Some(10), "{effects:?}");
    app.on_data(fixture::data(focus));
    // Drawn once with the detail, as the loop does, so scrolling knows how far it can go.
    render(&mut app, width, height);
    for _ in 0..scroll {
        app.handle(Action::Down);
    }
    render(&mut app, width, height)
}

#[test]
fn task_detail() {
    insta::assert_snapshot!(detail(80, 24, 0));
}

#[test]
fn task_detail_scrolled_to_the_findings() {
    insta::assert_snapshot!(detail(80, 24, 20));
    // Scrolling stops at the end: further down changes nothing.
    assert_eq!(detail(80, 24, 20), detail(80, 24, 200));
}

#[test]
fn task_detail_wide() {
    insta::assert_snapshot!(detail(120, 40, 0));
}

/// Wrapped detail lines start under the text they continue, never at column 0.
#[test]
fn task_detail_wraps_under_its_text() {
    for (width, height) in [(80, 24), (160, 45)] {
        for scroll in [0, 10, 20, 30] {
            let text = detail(width, height, scroll);
            let body: Vec<&str> = text.lines().skip(2).take(usize::from(height) - 3).collect();
            for line in &body {
                let line = line.trim_start_matches('"');
                assert!(line.is_empty() || line.starts_with(' '), "{line:?} in\n{text}");
            }
        }
    }
    insta::assert_snapshot!(format!(
        "80x24\n{}\n160x45\n{}",
        detail(80, 24, 20),
        detail(160, 45, 0)
    ));
}

#[test]
fn findings() {
    insta::assert_snapshot!(pictures(&both(&[Action::Tab(Tab::Findings)])));
}

/// Resource ids whole (tokio's are 64-bit), the title naming what is listed by kind (timers
/// are resources too), and where the selection is.
#[test]
fn resources() {
    let screens = both(&[Action::Tab(Tab::Resources)]);
    for screen in [&screens.0, &screens.1] {
        assert!(screen.contains(&fixture::CHANNEL.to_string()), "{screen}");
        assert!(screen.contains(&fixture::CACHE.to_string()), "{screen}");
        let title = line(screen, 2);
        assert!(title.contains("5 of 5 · 3 timers, 1 Mutex, 1 mpsc channel"), "{title}");
        assert!(title.contains("row 1 of 5"), "{title}");
    }
    insta::assert_snapshot!(pictures(&screens));
}

/// `s` sorts and puts the cursor on the first row of the new order, and the title says where
/// the cursor is.
#[test]
fn resources_sorted() {
    let actions = [Action::Tab(Tab::Resources), Action::End, Action::Sort];
    let screens = both(&actions);
    for screen in [&screens.0, &screens.1] {
        assert!(line(screen, 2).contains("row 1 of 5"), "{screen}");
    }
    let before = screen(&[Action::Tab(Tab::Resources), Action::End]);
    assert!(line(&before, 2).contains("row 5 of 5"), "{before}");
    insta::assert_snapshot!(pictures(&screens));
}

/// The help box fits the terminal and is never cut off: every key shows at 80x24 and at
/// 160x45, the box whole (both borders on screen).
#[test]
fn help() {
    let screens = both(&[Action::Help]);
    let last = crate::input::HELP.last().map(|(keys, _)| *keys).unwrap_or_default();
    for screen in [&screens.0, &screens.1] {
        for (keys, _) in crate::input::HELP {
            assert!(screen.contains(&format!("│{keys} ")), "{keys}: {screen}");
        }
        assert!(screen.contains(&format!("│{last} ")), "{screen}");
        assert!(screen.contains("Esc or ? closes this help"), "{screen}");
        assert!(screen.contains("┌ keys") && screen.contains("┘"), "{screen}");
    }
    insta::assert_snapshot!(pictures(&screens));
}

/// On a screen too small for every key, the help scrolls with the arrows and says which lines
/// it shows; scrolled to its end it shows the last keys, the box still whole.
#[test]
fn help_scrolls_when_it_does_not_fit() {
    let mut app = fixture::app();
    render(&mut app, 60, 16);
    app.handle(Action::Help);
    let top = render(&mut app, 60, 16);
    assert!(top.contains("↑↓ scroll · lines 1–"), "{top}");
    for _ in 0..40 {
        app.handle(Action::Down);
    }
    let end = render(&mut app, 60, 16);
    let last = crate::input::HELP.last().map(|(keys, _)| *keys).unwrap_or_default();
    assert!(end.contains(&format!("│{last} ")), "{end}");
    assert!(end.contains("┘"), "{end}");
    app.handle(Action::Home);
    assert_eq!(render(&mut app, 60, 16), top, "Home goes back to the top");
    insta::assert_snapshot!(format!("{top}\n{end}"));
}

/// `d` asks first: the box states what a dump costs and risks, over the current screen.
#[test]
fn task_dump_confirmation() {
    let text = screen(&[Action::Tab(Tab::Groups), Action::Dump]);
    assert!(text.contains("take a task dump?"), "{text}");
    assert!(text.contains("pauses every worker"), "{text}");
    assert!(text.contains("tokio-rs/tokio#7478"), "{text}");
    assert!(text.contains("y take it · any other key cancels"), "{text}");
    insta::assert_snapshot!(text);
    // Answered, the box goes.
    let cancelled = screen(&[Action::Tab(Tab::Groups), Action::Dump, Action::DumpCancel]);
    assert!(!cancelled.contains("take a task dump?"), "{cancelled}");
}

/// A runtime whose heartbeat is late leads the header, and is marked on the Overview.
#[test]
fn stalled_runtime() {
    let mut app = fixture::app();
    let mut data = (*app.data).clone();
    let mut runtimes = (*data.runtimes).clone();
    runtimes[0].stalled = true;
    runtimes[0].heartbeat_age_nanos = 3_240_000_000;
    data.runtimes = std::sync::Arc::new(runtimes);
    app.on_data(std::sync::Arc::new(data));
    app.handle(Action::Tab(Tab::Overview));
    let text = render(&mut app, 80, 24);
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("\" STALLED: runtime 1 heartbeat 3.2s old "), "{header}");
    assert!(text.contains("   STALLED: heartbeat 3.2s old"), "{text}");
    insta::assert_snapshot!(text);
}

/// Kinds the analysis cannot judge yet are named on the Overview with the time left, and a
/// merged finding shows all its kinds.
#[test]
fn pending_kinds_and_merged_findings() {
    use leakscope_analysis::{Evidence, FindingKind, Pending, Severity};
    let mut app = fixture::app();
    let mut data = (*app.data).clone();
    let mut report = (*data.report.clone().expect("the fixture is analysed")).clone();
    report.pending.push(Pending {
        kind: FindingKind::Stuck,
        location: None,
        tasks: 575,
        secs_left: 8.0,
        reason: "parked for 22s; judged at 30s".into(),
    });
    let finding = report.findings.first_mut().expect("a finding");
    finding.evidence.push(Evidence::AlsoFound {
        kind: FindingKind::Growth,
        severity: Severity::Suspect,
        explanation: "rising".into(),
    });
    let label = finding.kinds_label();
    data.report = Some(std::sync::Arc::new(report));
    app.on_data(std::sync::Arc::new(data));
    app.handle(Action::Tab(Tab::Overview));
    let text = render(&mut app, 120, 40);
    assert!(text.contains("not yet known"), "{text}");
    assert!(text.contains("stuck (575 tasks; the first judged in 8s)"), "{text}");
    app.handle(Action::Tab(Tab::Findings));
    let text = render(&mut app, 120, 40);
    assert!(label.contains('+') && text.contains(&label), "{label}: {text}");
}

#[test]
fn disconnected() {
    let mut app = fixture::app();
    app.handle(Action::Tab(Tab::Groups));
    app.retrying("127.0.0.1:6669 closed the connection", 3, Duration::from_secs(2));
    insta::assert_snapshot!(render(&mut app, 80, 24));
}

#[test]
fn wide_groups_and_tasks() {
    let mut app = fixture::app();
    app.handle(Action::Tab(Tab::Groups));
    let groups = render(&mut app, 140, 20);
    app.handle(Action::Tab(Tab::Tasks));
    let tasks = render(&mut app, 140, 20);
    insta::assert_snapshot!(format!("{groups}\n{tasks}"));
}

#[test]
fn every_screen_draws_on_tiny_and_odd_sizes() {
    // Smaller than supported must not panic; it is clipped.
    for (width, height) in [(1, 1), (20, 5), (80, 24), (81, 25), (300, 100)] {
        for tab in Tab::ALL {
            let mut app = fixture::app();
            app.handle(Action::Tab(tab));
            app.handle(Action::Open);
            render(&mut app, width, height);
            app.handle(Action::Help);
            render(&mut app, width, height);
            app.handle(Action::Back);
            app.handle(Action::Dump);
            render(&mut app, width, height);
        }
    }
}

/// A target whose build hides something says so in the header, in the words `snapshot` uses;
/// without per-task records (stable tokio) the count is the runtimes' own, never 0.
#[test]
fn the_header_names_what_the_build_hides() {
    use leakscope_proto::v1::{Capabilities, Update};
    let mut hello = fixture::hello();
    hello.capabilities =
        Some(Capabilities { runtime_metrics: true, resources: true, ..Capabilities::default() });
    let mut engine = crate::engine::Engine::new(leakscope_analysis::Config::default(), "x");
    engine.hello(&hello);
    let mut snapshot = fixture::snapshot(100.0);
    snapshot.tasks.clear();
    snapshot.runtimes[0].alive_tasks = 1001;
    engine.apply(vec![Update { full: true, snapshot: Some(snapshot) }]);
    engine.analyze(std::time::Instant::now());
    let mut app = App::new(fixture::ADDRESS, std::time::Instant::now());
    app.on_data(engine.publish());
    let screen = render(&mut app, 200, 24);
    let header = line(&screen, 0);
    assert!(header.contains("· 1,001 live tasks"), "{header}");
    assert!(header.contains("· build: missing tokio_unstable"), "{header}");
    assert!(header.contains("`leakscope doctor` gives the fixes"), "{header}");
}

/// The header and the Overview show one live-task figure, the live tasks of the latest update,
/// even when the last analysis is older and the agent's own counter says otherwise.
#[test]
fn the_header_and_the_overview_count_the_same_tasks() {
    use leakscope_proto::v1::{TaskState, Update};
    let mut engine = fixture::engine(None);
    // A newer update, not analysed yet: three more tasks, and an agent counter running ahead.
    let mut snapshot = fixture::snapshot(101.0);
    for id in 40..43 {
        snapshot.tasks.push(fixture::task(id, 2, TaskState::Idle, 100.5));
    }
    if let Some(stats) = snapshot.stats.as_mut() {
        stats.tasks_live = 230;
    }
    engine.apply(vec![Update { full: false, snapshot: Some(snapshot) }]);
    let mut data = (*engine.publish()).clone();
    assert_eq!(data.report.as_ref().map(|r| r.tasks.live), Some(9), "the analysis is older");
    // The engine's own timings vary from run to run.
    data.analysis = crate::state::AnalysisInfo {
        took_ms: 3.0,
        apply_ms: 1.0,
        every_secs: 1.0,
        ..data.analysis
    };
    let data = std::sync::Arc::new(data);
    let mut app = App::new(fixture::ADDRESS, std::time::Instant::now());
    app.on_data(data);
    app.handle(Action::Tab(Tab::Overview));
    for (width, height) in [(80, 24), (160, 45)] {
        let screen = render(&mut app, width, height);
        assert!(line(&screen, 0).contains("· 12 live tasks"), "{screen}");
        assert!(line(&screen, 2).starts_with(" Live tasks 12 "), "{screen}");
        assert!(screen.contains(" live            12"), "{screen}");
        assert!(screen.contains(" idle/sched/run  11 / 0 / 1"), "{screen}");
        assert!(!screen.contains("230"), "{screen}");
    }
    app.handle(Action::Tab(Tab::Tasks));
    let tasks = render(&mut app, 160, 45);
    assert!(line(&tasks, 2).starts_with(" Tasks row 1 of 12 · all tasks "), "{tasks}");
    insta::assert_snapshot!(format!(
        "80x24\n{}\n160x45\n{}",
        {
            app.handle(Action::Tab(Tab::Overview));
            render(&mut app, 80, 24)
        },
        render(&mut app, 160, 45)
    ));
}

/// Counts are grouped one way everywhere (`1,629` and `1,629i`, never `1629i`), and a count of
/// one takes the singular.
#[test]
fn numbers_and_plurals() {
    let mut data = (*fixture::data(None)).clone();
    let mut report = (**data.report.as_ref().unwrap()).clone();
    report.groups[1].count = 1629;
    report.groups[1].states.idle = 1629;
    data.report = Some(std::sync::Arc::new(report));
    let mut app = App::new(fixture::ADDRESS, std::time::Instant::now());
    app.on_data(std::sync::Arc::new(data));
    let groups = render(&mut app, 160, 45);
    assert!(groups.contains("1,629i 0s 0r"), "{groups}");
    assert!(!groups.contains("1629"), "{groups}");
    // Every screen at both sizes: no "1 tasks" and the like.
    let mut all = String::new();
    for tab in Tab::ALL {
        for (width, height) in [(80, 24), (160, 45)] {
            app.handle(Action::Tab(tab));
            all.push_str(&render(&mut app, width, height));
            app.handle(Action::Open);
            all.push_str(&render(&mut app, width, height));
        }
    }
    let wrong = ["1 tasks", "1 workers", "1 live children", "1 permits", "1 readers", "1 timers"];
    let wrong =
        wrong.iter().chain(&["1 leaks", "1 suspects", "1 warnings", "1 detectors", "1 times"]);
    for words in wrong {
        assert!(!all.contains(&format!(" {words}")), "{words}: {all}");
    }
    // The fixture has one leak, one suspect, one Mutex and one mpsc channel.
    for words in [" 1 leak ", " 1 suspect ", "1 Mutex,", "1 mpsc channel", " 2 warnings"] {
        assert!(all.contains(words), "{words}: {all}");
    }
    insta::assert_snapshot!(groups);
}

/// WAITING ON and FLAGS get the width their content needs before SPAWNED AT takes the blank
/// space; an empty NAME column is left out rather than squeezing the flags.
#[test]
fn columns_fit_their_content() {
    use leakscope_analysis::{FindingKind, WaitPoint};
    let mut data = (*fixture::data(None)).clone();
    let mut report = (**data.report.as_ref().unwrap()).clone();
    let wait = WaitPoint::Unknown("tokio::runtime::task::harness::poll_future".into());
    let long_wait = wait.to_string();
    report.groups[0].waiting_on = wait;
    report.groups[0].flags =
        vec![FindingKind::Deadlock, FindingKind::Uncancelled, FindingKind::Growth];
    data.report = Some(std::sync::Arc::new(report));
    let mut app = App::new(fixture::ADDRESS, std::time::Instant::now());
    app.on_data(std::sync::Arc::new(data));
    let mut pictures = Vec::new();
    for (width, height) in [(80, 24), (160, 45)] {
        let groups = render(&mut app, width, height);
        if width == 160 {
            // Room for everything: nothing is cut, and the path does not take the space.
            assert!(groups.contains("deadlock,uncancelled,growth"), "{groups}");
            assert!(groups.contains(&long_wait), "{groups}");
            assert!(!groups.contains('…'), "nothing needs cutting: {groups}");
        } else {
            // At 80 columns the wait point gives way, the path keeps its file and line.
            assert!(groups.contains("poller.rs:10:9"), "{groups}");
        }
        pictures.push(groups);
        app.handle(Action::Tab(Tab::Tasks));
        let tasks = render(&mut app, width, height);
        // The wide Tasks screen has a NAME column; the flagged tasks have no name, and their
        // flags show whole beside it. At 80 columns NAME is not shown.
        if width == 160 {
            assert!(tasks.contains("deadlock,uncancelled,growth"), "{tasks}");
            assert!(!tasks.contains('…'), "{tasks}");
        }
        pictures.push(tasks);
        app.handle(Action::Tab(Tab::Groups));
    }
    insta::assert_snapshot!(pictures.join("\n"));
}

#[test]
fn counts_of_a_million_show_every_digit() {
    let mut data = (*fixture::data(None)).clone();
    let mut report = (**data.report.as_ref().unwrap()).clone();
    report.groups[0].count = 1_000_000;
    report.findings[0].count = 2_500_000;
    data.report = Some(std::sync::Arc::new(report));
    let mut app = App::new("127.0.0.1:6669", std::time::Instant::now());
    app.on_data(std::sync::Arc::new(data));
    render(&mut app, 80, 24);
    app.handle(Action::Tab(Tab::Groups));
    let groups = render(&mut app, 80, 24);
    assert!(groups.contains("1,000,000"), "{groups}");
    app.handle(Action::Tab(Tab::Findings));
    let findings = render(&mut app, 80, 24);
    assert!(findings.contains("2,500,000"), "{findings}");
}
