//! The difference of two profiles of the same kind (task-wait before and after a load test,
//! say): per stack, the value before, after, and after minus before.

use std::collections::BTreeMap;

use crate::error::ProfileError;
use crate::folded::short_path;
use crate::profile::{Differential, Frame, Profile, ValueType};

/// Compares `after` with `before` on `after`'s default value (or the column of the same unit
/// when `before` names it differently, as folded input does: `samples/count` against
/// `tasks/count`; a folded side, which carries no unit, is compared with the other side's
/// default). The result has three columns: the change (named like the compared value, the
/// default, so that `go tool pprof` shows growth), then the before and after values; labels are
/// dropped. Stacks present on one side only count as zero on the other. Frames are compared with
/// their paths shortened as in folded output, so a folded baseline matches a pprof comparison.
pub fn diff(before: &Profile, after: &Profile) -> Result<Profile, ProfileError> {
    let incompatible =
        || ProfileError::Incompatible { before: describe(before), after: describe(after) };
    let after_index = after.default_sample_type;
    let wanted = after.sample_types.get(after_index).ok_or_else(incompatible)?;
    // Folded stacks carry no unit: they hold whatever column their writer showed, its default.
    let folded = |p: &Profile| p.sample_types == [ValueType::new("samples", "count")];
    let before_index = if folded(before) {
        Some(0)
    } else if folded(after) {
        Some(before.default_sample_type).filter(|&i| i < before.sample_types.len())
    } else {
        before.sample_types.iter().position(|t| t == wanted)
    };
    let before_index = before_index
        .or_else(|| {
            let same_unit: Vec<usize> = (0..before.sample_types.len())
                .filter(|&i| before.sample_types[i].unit == wanted.unit)
                .collect();
            match same_unit.as_slice() {
                [only] => Some(*only),
                _ if before
                    .sample_types
                    .get(before.default_sample_type)
                    .is_some_and(|t| t.unit == wanted.unit) =>
                {
                    Some(before.default_sample_type)
                }
                _ => None,
            }
        })
        .ok_or_else(incompatible)?;

    // Folded input carries shortened paths; pprof input the full ones. Stacks are compared as
    // the folded format shows them, so the same stack from either matches.
    let key = |stack: &[Frame]| -> Vec<Frame> {
        stack.iter().map(|f| Frame::new(f.function.clone(), short_path(&f.file), f.line)).collect()
    };
    let mut stacks: BTreeMap<Vec<Frame>, (i64, i64)> = BTreeMap::new();
    for sample in &before.samples {
        stacks.entry(key(&sample.stack)).or_default().0 +=
            sample.values.get(before_index).copied().unwrap_or(0);
    }
    for sample in &after.samples {
        stacks.entry(key(&sample.stack)).or_default().1 +=
            sample.values.get(after_index).copied().unwrap_or(0);
    }
    let mut out = Profile::new(vec![
        wanted.clone(),
        ValueType::new(format!("{}_before", wanted.kind), wanted.unit.clone()),
        ValueType::new(format!("{}_after", wanted.kind), wanted.unit.clone()),
    ]);
    for (stack, (b, a)) in stacks {
        out.add(stack, vec![a - b, b, a], Vec::new());
    }
    out.differential = Some(Differential { before: 1, after: 2 });
    out.time_nanos = after.time_nanos;
    out.duration_nanos = after.duration_nanos;
    out.period.clone_from(&after.period);
    out.program.clone_from(&after.program);
    out.title = format!(
        "{}: difference",
        if after.title.is_empty() { "leakscope profile" } else { after.title.as_str() }
    );
    out.subtitle = match (before.subtitle.is_empty(), after.subtitle.is_empty()) {
        (false, false) => format!("before: {} | after: {}", before.subtitle, after.subtitle),
        _ => "red: grew since the baseline, blue: shrank".to_owned(),
    };
    out.normalize();
    Ok(out)
}

fn describe(profile: &Profile) -> String {
    let types: Vec<String> = profile.sample_types.iter().map(ToString::to_string).collect();
    if types.is_empty() { "nothing".to_owned() } else { types.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folded::{folded_lines, read_folded};

    fn check(before: &str, after: &str, expected: &[&str]) {
        let before = read_folded(before).unwrap();
        let after = read_folded(after).unwrap();
        let d = diff(&before, &after).unwrap();
        assert_eq!(folded_lines(&d, 0), expected);
        let deltas: i64 = d.samples.iter().map(|s| s.values[0]).sum();
        assert_eq!(deltas, after.total(0) - before.total(0));
    }

    #[test]
    fn stacks_on_either_side_are_kept() {
        check(
            "main;idle 5\nmain;leak 1\n",
            "main;idle 5\nmain;leak 40\nmain;new 2\n",
            &["main;idle 5 5", "main;leak 1 40", "main;new 0 2"],
        );
        check("main;gone 3\n", "main;here 1\n", &["main;gone 3 0", "main;here 0 1"]);
    }

    #[test]
    fn the_compared_value_is_matched_by_name_then_unit() {
        let tasks = |n: i64| {
            let mut p = Profile::new(vec![
                ValueType::new("tasks", "count"),
                ValueType::new("wait", "nanoseconds"),
            ]);
            p.add(vec![Frame::new("a", "", 0)], vec![n, n * 1000], Vec::new());
            p
        };
        let mut after = tasks(3);
        after.set_default("wait");
        let d = diff(&tasks(1), &after).unwrap();
        assert_eq!(d.sample_types[0], ValueType::new("wait", "nanoseconds"));
        assert_eq!(d.samples[0].values, vec![2000, 1000, 3000]);

        let folded = read_folded("a 7\n").unwrap();
        let d = diff(&folded, &tasks(9)).unwrap();
        assert_eq!(d.samples[0].values, vec![2, 7, 9]);
        // Folded stacks carry no unit: they stand for the other side's default column, so a
        // CPU profile's nanoseconds (or idle time, here) compare with its folded counterpart.
        let mut before = tasks(1);
        before.set_default("wait");
        let d = diff(&before, &read_folded("a 5000\n").unwrap()).unwrap();
        assert_eq!(d.samples[0].values, vec![4000, 1000, 5000]);
        let d = diff(&read_folded("a 1000\n").unwrap(), &after).unwrap();
        assert_eq!(d.samples[0].values, vec![2000, 1000, 3000]);
        assert_eq!(d.period, after.period);

        let cpu = Profile::new(vec![
            ValueType::new("cpu", "nanoseconds"),
            ValueType::new("x", "nanoseconds"),
        ]);
        let err = diff(&cpu, &tasks(1)).unwrap_err().to_string();
        assert_eq!(
            err,
            "the profiles measure different things: cpu/nanoseconds, x/nanoseconds against tasks/count, wait/nanoseconds"
        );
    }
}
