//! The CPU profile, from the samples the agent's `CpuProfile` call returns.

use leakscope_analysis::names::clean_function;
use leakscope_proto::v1::CpuProfileResponse;

use crate::profile::{Frame, Label, Profile, ValueType};

/// Frames are named as everywhere else ([`clean_function`]: generic arguments dropped).
/// Columns `samples/count` and `cpu/nanoseconds` (samples times the sampling period; the
/// default, as in Go's CPU profiles), the period `cpu/nanoseconds`, a `thread` label per sample,
/// and the start time and duration of the sampling. The response does not name the program:
/// set [`Profile::program`] where it is known.
pub fn cpu_profile(response: &CpuProfileResponse) -> Profile {
    let mut profile = Profile::new(vec![
        ValueType::new("samples", "count"),
        ValueType::new("cpu", "nanoseconds"),
    ]);
    let period = 1_000_000_000 / i64::from(response.frequency_hz.max(1));
    profile.period = Some((ValueType::new("cpu", "nanoseconds"), period));
    profile.default_sample_type = 1;
    profile.title = "leakscope CPU profile".into();
    profile.time_nanos = i64::try_from(response.started_unix_nanos).unwrap_or(0);
    profile.duration_nanos = i64::try_from(response.duration_nanos).unwrap_or(i64::MAX);
    for sample in &response.samples {
        let stack = sample
            .frames
            .iter()
            // As every profile reads a name: without generic arguments (which the agent
            // sends), `<Type as Trait>` kept.
            .map(|f| Frame::new(clean_function(&f.function, &f.file), f.file.clone(), f.line))
            .collect();
        let count = i64::try_from(sample.count).unwrap_or(i64::MAX);
        let labels = if sample.thread.is_empty() {
            Vec::new()
        } else {
            vec![Label { key: "thread".into(), value: sample.thread.clone() }]
        };
        profile.add(stack, vec![count, count.saturating_mul(period)], labels);
    }
    profile.normalize();
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakscope_proto::v1::{CpuSample, Frame as WireFrame};

    #[test]
    fn samples_become_counts_and_cpu_time() {
        let frame = |function: &str, line| WireFrame {
            function: function.into(),
            file: "src/main.rs".into(),
            line,
            col: 1,
        };
        let response = CpuProfileResponse {
            frequency_hz: 100,
            started_unix_nanos: 5,
            duration_nanos: 1_000_000_000,
            samples: vec![
                CpuSample {
                    frames: vec![frame("main", 1), frame("hot", 9)],
                    count: 30,
                    thread: "worker".into(),
                },
                CpuSample { frames: vec![frame("main", 1)], count: 2, thread: String::new() },
                CpuSample {
                    frames: vec![frame("<F as core::ops::FnOnce<()>>::call_once<app::Job>", 4)],
                    count: 1,
                    thread: String::new(),
                },
            ],
            ..CpuProfileResponse::default()
        };
        let profile = cpu_profile(&response);
        assert_eq!(profile.total(0), 33);
        assert_eq!(profile.total(1), 330_000_000);
        let call = profile.samples.iter().find(|s| s.stack[0].line == 4).unwrap();
        assert_eq!(call.stack[0].function, "<F as core::ops::FnOnce>::call_once");
        assert_eq!(profile.period, Some((ValueType::new("cpu", "nanoseconds"), 10_000_000)));
        assert_eq!(profile.default_type(), Some(&ValueType::new("cpu", "nanoseconds")));
        let hot = profile.samples.iter().find(|s| s.stack.len() == 2).unwrap();
        assert_eq!(hot.stack[1], Frame::new("hot", "src/main.rs", 9));
        assert_eq!(hot.labels[0].value, "worker");
    }
}
