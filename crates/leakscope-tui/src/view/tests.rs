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

/// The fixture after `actions`, drawn at 80x24 (the smallest supported screen).
fn screen(actions: &[Action]) -> String {
    let mut app = fixture::app();
    render(&mut app, 80, 24);
    for action in actions {
        app.handle(*action);
    }
    render(&mut app, 80, 24)
}

#[test]
fn overview() {
    insta::assert_snapshot!(screen(&[]));
}

#[test]
fn groups() {
    insta::assert_snapshot!(screen(&[Action::Tab(Tab::Groups)]));
}

#[test]
fn tasks() {
    insta::assert_snapshot!(screen(&[Action::Tab(Tab::Tasks)]));
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

#[test]
fn findings() {
    insta::assert_snapshot!(screen(&[Action::Tab(Tab::Findings)]));
}

#[test]
fn resources() {
    insta::assert_snapshot!(screen(&[Action::Tab(Tab::Resources)]));
}

#[test]
fn help() {
    insta::assert_snapshot!(screen(&[Action::Tab(Tab::Groups), Action::Help]));
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
