//! `f`'s flame graph: the folded task-wait stacks of the tasks on screen, drawn as
//! `leakscope profile` draws them and written as `leakscope-screen-<time>.svg` into the
//! directory `attach --out-dir` names (the current one by default).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::session::FlamegraphHook;

/// A writer for `f` that puts its SVGs in `dir` and answers with the full path written.
pub fn flamegraph_writer(dir: PathBuf) -> FlamegraphHook {
    Box::new(move |stacks| write(&dir, stacks))
}

/// Writes the stacks' flame graph into `dir`, never over an earlier one (two presses in the
/// same second get `-2`, `-3`...), and returns its absolute path.
fn write(dir: &Path, stacks: &[(String, u64)]) -> Result<PathBuf, String> {
    let text: String = stacks.iter().map(|(stack, count)| format!("{stack} {count}\n")).collect();
    let profile = leakscope_profile::folded::read_folded(&text).map_err(|e| e.to_string())?;
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut path = dir.join(format!("leakscope-screen-{secs}.svg"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("leakscope-screen-{secs}-{n}.svg"));
    }
    leakscope_profile::write_path(&profile, &path, &leakscope_profile::WriteOptions::default())
        .map_err(|e| e.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::write;

    #[test]
    fn writes_into_the_directory_and_says_the_full_path() {
        let dir = std::env::temp_dir().join(format!("leakscope-tui-flame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stacks = vec![("spawn src/a.rs:3:5;wait: sleep".to_owned(), 4)];
        let first = write(&dir, &stacks).unwrap();
        let second = write(&dir, &stacks).unwrap();
        assert!(first.is_absolute() && first.starts_with(&dir), "{}", first.display());
        assert_ne!(first, second, "a second press does not overwrite the first");
        let svg = std::fs::read_to_string(&first).unwrap();
        assert!(svg.contains("<svg") && svg.contains("src/a.rs:3:5"), "{svg:.300}");
        let err = write(&dir.join("missing"), &stacks).unwrap_err();
        assert!(!err.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
