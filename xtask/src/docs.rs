//! `cargo xtask docs`: rewrites the blocks of real output in the docs from release builds run
//! on loopback, so the docs show what the tool prints today:
//!
//! - docs/leak-patterns.md, between `<!-- snapshot SCENARIO WAIT -->` and `<!-- /snapshot -->`:
//!   `leakscope snapshot ADDR --wait WAIT` against `leakscope-zoo --scenario SCENARIO`, every
//!   scenario at once, each against its own zoo process;
//! - docs/tui.md, between `<!-- screen NAME -->` and `<!-- /screen -->`: the UI attached to
//!   `leakscope-zoo --scenario all` in a pseudo-terminal (script(1)) of [`COLS`]x[`ROWS`], read
//!   through a terminal emulator after the keys [`screen_keys`] gives for NAME.
//!
//! Paths are shortened as a reader's would be: the workspace root and cargo's registry prefix are
//! cut. Nothing else is edited.

use anyhow::{Context, Result, bail};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The UI's terminal size for docs/tui.md.
const COLS: u16 = 120;
const ROWS: u16 = 34;
/// How long the zoo runs before the UI's screens are read.
const UI_WARM_UP: Duration = Duration::from_secs(35);

/// `which`: `None` for both files, or `leak-patterns` or `tui`.
pub(crate) fn run(which: Option<&str>) -> Result<()> {
    let (patterns_too, tui_too) = match which {
        None => (true, true),
        Some("leak-patterns") => (true, false),
        Some("tui") => (false, true),
        Some(other) => bail!("no such docs: {other:?} (leak-patterns or tui)"),
    };
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("==> building leakscope and leakscope-zoo (release)");
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "leakscope-cli", "-p", "leakscope-zoo"])
        .current_dir(&root)
        .status()
        .context("failed to run cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let bin = root.join("target/release");
    let cli = bin.join("leakscope");
    let zoo = bin.join("leakscope-zoo");

    if patterns_too {
        let patterns = root.join("docs/leak-patterns.md");
        let text = std::fs::read_to_string(&patterns).context("reading docs/leak-patterns.md")?;
        let text = snapshots(&text, &root, &cli, &zoo)?;
        std::fs::write(&patterns, text).context("writing docs/leak-patterns.md")?;
        println!("==> wrote docs/leak-patterns.md");
    }
    if tui_too {
        let tui = root.join("docs/tui.md");
        let text = std::fs::read_to_string(&tui).context("reading docs/tui.md")?;
        let text = screens(&text, &root, &cli, &zoo)?;
        std::fs::write(&tui, text).context("writing docs/tui.md")?;
        println!("==> wrote docs/tui.md");
    }
    Ok(())
}

/// A marked block: the marker's words, and the byte range of the text between the markers.
struct Block {
    words: Vec<String>,
    inner: std::ops::Range<usize>,
}

/// Every `<!-- KIND ... -->` … `<!-- /KIND -->` block of `text`.
fn blocks(text: &str, kind: &str) -> Result<Vec<Block>> {
    let open = format!("<!-- {kind} ");
    let close = format!("<!-- /{kind} -->");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(&open).map(|i| i + from) {
        let head_end = text[at..].find("-->").map(|i| at + i + 3).context("unclosed marker")?;
        let words = text[at + open.len()..head_end - 3].split_whitespace().map(str::to_owned);
        let end = text[head_end..]
            .find(&close)
            .map(|i| head_end + i)
            .with_context(|| format!("no {close} after byte {at}"))?;
        found.push(Block { words: words.collect(), inner: head_end..end });
        from = end + close.len();
    }
    Ok(found)
}

/// `text` with each block's inner text replaced by `new` (same order as `blocks`).
fn splice(text: &str, blocks: &[Block], new: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (block, new) in blocks.iter().zip(new) {
        out.push_str(&text[from..block.inner.start]);
        out.push('\n');
        out.push_str(new.trim_end());
        out.push('\n');
        from = block.inner.end;
    }
    out.push_str(&text[from..]);
    out
}

/// Cuts the workspace root and cargo's registry prefix from paths.
fn tidy(output: &str, root: &Path) -> String {
    let root = format!("{}/", root.display());
    let mut out = String::new();
    for line in output.lines() {
        let mut line = line.replace(&root, "");
        while let Some(at) = line.find("/.cargo/registry/src/") {
            let start =
                line[..at].rfind(|c: char| c.is_whitespace() || c == '(').map_or(0, |i| i + 1);
            let rest = &line[at + "/.cargo/registry/src/".len()..];
            let after = rest.find('/').map_or(rest.len(), |i| i + 1);
            line = format!("{}~/.cargo/registry/…/{}", &line[..start], &rest[after..]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A zoo process on a free loopback port, killed on drop.
struct Zoo {
    child: Child,
    addr: SocketAddr,
}

impl Zoo {
    fn start(zoo: &Path, scenario: &str) -> Result<Self> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(zoo)
            .args(["--scenario", scenario, "--bind", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting the zoo ({scenario})"))?;
        let zoo = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                bail!("the zoo ({scenario}) did not listen on {addr} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(zoo)
    }
}

impl Drop for Zoo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs every `snapshot` block's scenario at once and puts each snapshot's output in its block.
fn snapshots(text: &str, root: &Path, cli: &Path, zoo: &Path) -> Result<String> {
    let blocks = blocks(text, "snapshot")?;
    let mut running = Vec::new();
    for block in &blocks {
        let [scenario, wait] = block.words.as_slice() else {
            bail!("a snapshot marker needs a scenario and a wait: {:?}", block.words);
        };
        let zoo = Zoo::start(zoo, scenario)?;
        let child = Command::new(cli)
            .args(["snapshot", &zoo.addr.to_string(), "--wait", wait])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting leakscope snapshot")?;
        println!("==> {scenario}: snapshot --wait {wait}");
        running.push((scenario.clone(), wait.clone(), zoo, child));
    }
    let mut new = Vec::new();
    for (scenario, wait, zoo, child) in running {
        let out = child.wait_with_output().context("waiting for leakscope snapshot")?;
        drop(zoo);
        // 0: no finding at the failing severity; 1: findings. Anything else is a failure.
        if !matches!(out.status.code(), Some(0 | 1)) {
            bail!(
                "snapshot of {scenario} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let output = tidy(&String::from_utf8_lossy(&out.stdout), root);
        new.push(format!(
            "Captured by `cargo xtask docs`: `leakscope snapshot ADDR --wait {wait}` (default \
             thresholds, no task dump) against `--scenario {scenario}` at its default rate, started \
             with the zoo:\n\n```text\n{output}```"
        ));
    }
    Ok(splice(text, &blocks, &new))
}

/// The keys that lead from the UI's first screen to the screen `name`.
fn screen_keys(name: &str) -> Result<&'static [u8]> {
    Ok(match name {
        "overview" => b"",
        "groups" => b"2",
        // Groups filtered to the stuck senders, their tasks, the first of them.
        "task" => b"2/send\r\r\r",
        "findings" => b"4",
        other => bail!("no keys known for the screen {other:?}"),
    })
}

/// Attaches the UI to the zoo's `all` scenario and puts each `screen` block's screen in it.
fn screens(text: &str, root: &Path, cli: &Path, zoo: &Path) -> Result<String> {
    let blocks = blocks(text, "screen")?;
    if blocks.is_empty() {
        return Ok(text.to_owned());
    }
    let zoo = Zoo::start(zoo, "all")?;
    println!("==> the zoo runs {}s before the UI's screens are read", UI_WARM_UP.as_secs());
    std::thread::sleep(UI_WARM_UP);
    let mut new = Vec::new();
    for block in &blocks {
        let name = block.words.first().context("a screen marker needs a name")?;
        let keys = screen_keys(name)?;
        let screen = attach_and_read(cli, zoo.addr, keys)?;
        println!("==> screen {name}");
        new.push(format!(
            "The `{name}` screen, captured by `cargo xtask docs` ({COLS}x{ROWS}, against \
             `leakscope-zoo --scenario all` after {}s):\n\n```text\n{}```",
            UI_WARM_UP.as_secs(),
            tidy(&screen, root)
        ));
    }
    Ok(splice(text, &blocks, &new))
}

/// Runs `leakscope attach addr` in a pseudo-terminal, types `keys` once the first screen is up,
/// and returns the screen two seconds later.
fn attach_and_read(cli: &Path, addr: SocketAddr, keys: &[u8]) -> Result<String> {
    let command = format!("stty rows {ROWS} cols {COLS}; exec '{}' attach {addr}", cli.display());
    let mut script = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("failed to start script(1) (util-linux) for the UI")?;
    let mut stdout = script.stdout.take().context("no stdout")?;
    let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap_or_else(PoisonError::into_inner).process(&buf[..n]);
            }
        })
    };
    let contents = || screen.lock().unwrap_or_else(PoisonError::into_inner).screen().contents();
    // The first full frame: the header names the target.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !contents().contains("leakscope-zoo") {
        if Instant::now() > deadline {
            bail!("the UI showed no target within 20 s:\n{}", contents());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two analyses, so every finding is on screen.
    std::thread::sleep(Duration::from_secs(3));
    let mut stdin = script.stdin.take().context("no stdin")?;
    for key in keys {
        stdin.write_all(&[*key])?;
        stdin.flush()?;
        std::thread::sleep(Duration::from_millis(700));
    }
    std::thread::sleep(Duration::from_secs(2));
    let shown = contents();
    stdin.write_all(b"q")?;
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(5);
    while script.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = script.kill();
    let _ = script.wait();
    let _ = reader.join();
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::{blocks, splice, tidy};
    use std::path::Path;

    #[test]
    fn blocks_are_found_and_replaced() {
        let text = "a\n<!-- snapshot x 5s -->\nold\n<!-- /snapshot -->\nb\n<!-- snapshot y 1s -->\
                    <!-- /snapshot -->\n";
        let found = blocks(text, "snapshot").unwrap();
        let words: Vec<_> = found.iter().map(|b| b.words.join(" ")).collect();
        assert_eq!(words, ["x 5s", "y 1s"]);
        let out = splice(text, &found, &["new x".to_owned(), "new y".to_owned()]);
        assert_eq!(
            out,
            "a\n<!-- snapshot x 5s -->\nnew x\n<!-- /snapshot -->\nb\n<!-- snapshot y 1s -->\n\
             new y\n<!-- /snapshot -->\n"
        );
        assert!(blocks("<!-- snapshot x 1s --> no end", "snapshot").is_err());
    }

    #[test]
    fn paths_are_tidied() {
        let root = Path::new("/work/main");
        let line = "at /work/main/crates/zoo/src/a.rs:3 (created at \
                    /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/sync/mutex.rs:806:9)  ";
        assert_eq!(
            tidy(line, root),
            "at crates/zoo/src/a.rs:3 (created at ~/.cargo/registry/…/tokio-1.54.1/src/sync/mutex.rs:806:9)\n"
        );
    }
}
