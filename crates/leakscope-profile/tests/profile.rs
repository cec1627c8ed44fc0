//! Golden snapshots of every builder and every format, from one fixed model: the output must be
//! byte-for-byte stable between runs (insta snapshots in `tests/snapshots/`).

mod go_pprof;
mod support;

use leakscope_profile::pprof::{decode, decode_proto, encode};
use leakscope_profile::svg::{SvgOptions, write_svg};
use leakscope_profile::{
    Format, TaskFilter, WriteOptions, blocking_profile, diff, folded, lock_wait_profile,
    read_bytes, task_wait_profile, write_profile,
};

use support::{describe_pprof, fixture, folded_text};

#[test]
fn task_wait_folded_by_count_and_by_idle_time() {
    let (model, dump) = fixture();
    let mut profile = task_wait_profile(&model, Some(&dump), &TaskFilter::all());
    insta::assert_snapshot!("tasks_by_count", folded_text(&profile));
    assert!(profile.set_default("wait"));
    insta::assert_snapshot!("tasks_by_idle", folded_text(&profile));
}

#[test]
fn task_wait_without_a_dump_ends_in_the_awaited_resource() {
    let (model, _) = fixture();
    let profile = task_wait_profile(&model, None, &TaskFilter::all());
    insta::assert_snapshot!("tasks_without_dump", folded_text(&profile));
}

#[test]
fn filters_select_tasks_by_id_and_by_text() {
    let (model, dump) = fixture();
    // Tasks per root (spawn) frame.
    let check = |filter: TaskFilter, expected: &[(&str, i64)]| {
        let profile = task_wait_profile(&model, Some(&dump), &filter);
        let mut roots: std::collections::BTreeMap<String, i64> = Default::default();
        for sample in &profile.samples {
            *roots.entry(folded::frame_label(&sample.stack[0])).or_default() += sample.values[0];
        }
        let roots: Vec<(&str, i64)> = roots.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(roots, expected, "{filter:?}");
    };
    check(TaskFilter::ids([1, 2]), &[("tokio::spawn (src/server.rs:40)", 2)]);
    check(
        TaskFilter::text("CACHE"),
        &[
            ("tokio::spawn \"refresher\" (src/cache.rs:30)", 1),
            ("tokio::spawn (src/cache.rs:20)", 1),
        ],
    );
    // The wait point's name counts too; the running handler (task 4) waits on nothing.
    check(TaskFilter::text("mpsc::sender"), &[("tokio::spawn (src/server.rs:40)", 3)]);
    check(TaskFilter::ids([]), &[]);
    check(
        TaskFilter::all(),
        &[
            ("tokio::spawn \"refresher\" (src/cache.rs:30)", 1),
            ("tokio::spawn (src/cache.rs:20)", 1),
            ("tokio::spawn (src/server.rs:40)", 4),
            ("tokio::task::spawn_blocking (src/render.rs:5)", 1),
        ],
    );
}

#[test]
fn lock_waits_name_the_lock_and_its_holder() {
    let (model, dump) = fixture();
    let profile = lock_wait_profile(&model, Some(&dump), &TaskFilter::all());
    insta::assert_snapshot!("locks", folded_text(&profile));
}

#[test]
fn blocking_shows_long_polls_and_polls_running_now() {
    let (model, _) = fixture();
    let mut profile = blocking_profile(&model, &TaskFilter::all());
    insta::assert_snapshot!("blocking_by_count", folded_text(&profile));
    profile.set_default("blocked");
    insta::assert_snapshot!("blocking_by_time", folded_text(&profile));
}

#[test]
fn pprof_output_decodes_as_a_well_formed_profile() {
    let (model, dump) = fixture();
    let mut profile = task_wait_profile(&model, Some(&dump), &TaskFilter::all());
    profile.set_origin("app (pid 7) at 127.0.0.1:6669", 1_763_915_000_000_000_000);
    let bytes = encode(&profile);
    assert_eq!(bytes, encode(&profile), "the same profile encodes to the same bytes");
    let message = decode_proto(&bytes).expect("a valid profile");
    insta::assert_snapshot!("tasks_pprof", describe_pprof(&message));
    // And back: nothing is lost but the zero-valued inlined columns pprof does not have.
    assert_eq!(decode(&bytes).unwrap(), profile);
}

#[test]
fn flame_graphs_are_stable() {
    let (model, dump) = fixture();
    let mut profile = task_wait_profile(&model, Some(&dump), &TaskFilter::all());
    profile.set_origin("app (pid 7) at 127.0.0.1:6669", 1_763_915_000_000_000_000);
    let svg = |options: &SvgOptions| {
        let mut out = Vec::new();
        write_svg(&profile, options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let straight = svg(&SvgOptions::default());
    assert_eq!(straight, svg(&SvgOptions::default()), "colours and layout do not vary");
    assert!(straight.contains("leakscope task-wait profile"));
    assert!(straight.contains("app (pid 7) at 127.0.0.1:6669, 2025-11-23 16:23:20 UTC"));
    // Frames with `;` keep it, as a look-alike the folded format cannot split on.
    assert!(straight.contains("&lt;[u8\u{37e} 8] as app::Sink&gt;::push"), "{straight}");
    insta::assert_snapshot!("tasks_svg", straight);
    let icicle = svg(&SvgOptions { icicle: true, ..SvgOptions::default() });
    assert_ne!(icicle, straight);
    assert!(icicle.contains("var inverted = true"), "icicle layout");
}

#[test]
fn an_empty_profile_still_draws() {
    let (model, dump) = fixture();
    let profile = task_wait_profile(&model, Some(&dump), &TaskFilter::ids([]));
    let mut out = Vec::new();
    write_profile(&profile, Format::Svg, &WriteOptions::default(), &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("no samples"));
}

#[test]
fn a_diff_against_a_baseline_shows_what_grew() {
    let (model, dump) = fixture();
    let after = task_wait_profile(&model, Some(&dump), &TaskFilter::all());
    let before = task_wait_profile(&model, Some(&dump), &TaskFilter::text("cache"));
    // Through files, as the command line does: one side folded, the other pprof.
    let mut folded_before = Vec::new();
    write_profile(&before, Format::Folded, &WriteOptions::default(), &mut folded_before).unwrap();
    let before = read_bytes(&folded_before, None).unwrap();
    let after = read_bytes(&encode(&after), None).unwrap();
    let difference = diff(&before, &after).unwrap();
    insta::assert_snapshot!("diff_folded", folded_text(&difference));
    let mut svg = Vec::new();
    write_profile(&difference, Format::Svg, &WriteOptions::default(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("mpsc::Sender::send"), "the grown stack is drawn");
    let message = decode_proto(&encode(&difference)).unwrap();
    let types: Vec<String> = message
        .sample_type
        .iter()
        .map(|t| message.string_table[t.r#type as usize].clone())
        .collect();
    assert_eq!(types, ["tasks", "tasks_before", "tasks_after"]);
}
