//! Facts about the machine a run was made on, read when the run starts.

use std::path::Path;
use std::process::Command;

/// Facts about the machine the run was made on.
pub(in crate::bench) struct Machine {
    pub(super) facts: Vec<(&'static str, String)>,
}

impl Machine {
    pub(in crate::bench) fn read(root: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or("unknown".to_owned(), |(_, model)| model.trim().to_owned());
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or("unknown".to_owned(), |kib| {
                format!("{:.1} GiB", kib as f64 / (1 << 20) as f64)
            });
        let clocksource = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .map_or("unknown".to_owned(), |s| s.trim().to_owned());
        let load = std::fs::read_to_string("/proc/loadavg").map_or("unknown".to_owned(), |s| {
            s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        });
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
        let versions = ["tokio", "tracing-subscriber", "console-subscriber", "tonic"]
            .iter()
            .map(|name| format!("{name} {}", locked_version(&lock, name).unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ");
        let commit = output("git", &["rev-parse", "--short", "HEAD"]);
        let dirty = !output("git", &["status", "--porcelain"]).is_empty();
        Self {
            facts: vec![
                ("date", output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
                ("CPU", cpu),
                ("cores (available parallelism)", nproc.to_string()),
                ("memory", memory),
                ("kernel (uname -r)", output("uname", &["-r"])),
                ("clock source", clocksource),
                ("load average at start (1, 5, 15 min)", load),
                ("rustc", output("rustc", &["--version"])),
                ("crates", versions),
                (
                    "commit",
                    if dirty { format!("{commit} with uncommitted changes") } else { commit },
                ),
            ],
        }
    }
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(crate::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The version of `name` in a Cargo.lock, when it is locked once.
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let at = lock.find(&needle)? + needle.len();
    lock[at..].split('"').next()
}

#[cfg(test)]
mod tests {
    use super::locked_version;

    #[test]
    fn locked_versions() {
        let lock = "[[package]]\nname = \"tokio\"\nversion = \"1.54.1\"\n";
        assert_eq!(locked_version(lock, "tokio"), Some("1.54.1"));
        assert_eq!(locked_version(lock, "tonic"), None);
    }
}
