//! What the app's build gives the agent, found at run time rather than assumed from cfgs: whether
//! code keeps frame pointers, whether the binary has line tables, and which tokio it runs. Each is
//! probed once, on the agent's thread when the first client says `Hello`, and reported in
//! `Capabilities` / `HelloResponse` so `leakscope doctor` can name what is missing and the fix.
//!
//! The probes look at leakscope's own code, which the app's `RUSTFLAGS` and profile build like
//! the rest of the app: a workspace that sets frame pointers or debug info for some packages only
//! is the one case they can misjudge.

use leakscope_proto::v1::capabilities::Presence;
use std::sync::OnceLock;

/// The oldest tokio this build of the agent accepts: its `tokio` requirement in Cargo.toml (the
/// end-to-end doctor test checks the two agree).
pub(crate) const TOKIO_MINIMUM: &str = "1.54";

/// What the probes found.
#[derive(Clone, Debug)]
pub(crate) struct BuildFacts {
    /// Frame pointers in the app's code.
    pub(crate) frame_pointers: Presence,
    /// Line tables in the binary.
    pub(crate) line_tables: Presence,
    /// The tokio version, from the path tokio's code was compiled at; empty when unknown.
    pub(crate) tokio_version: String,
}

/// The facts, probed on first use and kept.
pub(crate) fn build_facts() -> &'static BuildFacts {
    static FACTS: OnceLock<BuildFacts> = OnceLock::new();
    FACTS.get_or_init(|| {
        let (line_tables, tokio_version) = symbolised();
        BuildFacts { frame_pointers: frame_pointers(), line_tables, tokio_version }
    })
}

/// Whether the frame-pointer chain links this probe's callee to its caller.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn frame_pointers() -> Presence {
    if fp_chain_reaches_caller() { Presence::Present } else { Presence::Absent }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn frame_pointers() -> Presence {
    Presence::Unknown
}

/// The caller half of the probe: a frame with a local above the callee's frame, and a known code
/// address range the callee's return address must fall in.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
fn fp_chain_reaches_caller() -> bool {
    let marker = 0_u8;
    let high = std::ptr::from_ref(std::hint::black_box(&marker)) as usize;
    let found = std::hint::black_box(fp_callee(high));
    std::hint::black_box(&marker);
    found
}

/// Reads the frame pointer register and checks it points at a frame record whose return address
/// lies inside [`fp_chain_reaches_caller`]. Built without frame pointers, the register holds
/// whatever the code put there: the record is then read only if it lies between this function's
/// own locals and its caller's (live stack, so mapped), and its return address will not match.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
fn fp_callee(high: usize) -> bool {
    let marker = 0_u8;
    let low = std::ptr::from_ref(std::hint::black_box(&marker)) as usize;
    // A call, so that the function is not a leaf (aarch64 keeps frame records in non-leaf
    // functions only when told to keep them at all).
    std::hint::black_box(touch(&marker));
    let fp = frame_pointer();
    let word = size_of::<usize>();
    let inside = fp >= low
        && fp.is_multiple_of(word)
        && fp.checked_add(2 * word).is_some_and(|end| end <= high);
    if !inside {
        return false;
    }
    // SAFETY: `fp .. fp + 2 words` lies between a local of this function and a local of its
    // caller, stack memory that is mapped while both run.
    let ret = unsafe { std::ptr::read_volatile((fp + word) as *const usize) };
    let caller = fp_chain_reaches_caller as fn() -> bool as usize;
    // The call sits within the caller's first few hundred bytes.
    ret > caller && ret < caller + 512
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
fn touch(byte: &u8) -> u8 {
    std::hint::black_box(*byte)
}

/// The frame pointer register: the calling function's own frame when it is built with frame
/// pointers (inlined, so the caller's). The probe here and the wait capture's walk read it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register; no memory, stack or flags touched.
    unsafe {
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    fp
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register; no memory, stack or flags touched.
    unsafe {
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    fp
}

/// Line tables and the tokio version, from resolving two known functions: one of the agent's own
/// (a file and a line mean the binary has line tables) and one of tokio's (its file's path names
/// the tokio release, `.../tokio-1.54.0/src/...`, when tokio came from a registry).
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn symbolised() -> (Presence, String) {
    let mut symbols = crate::symbols::Symbols::default();
    // `at` resolves the byte before the address it is given, as suits return addresses.
    let own = build_facts as fn() -> &'static BuildFacts as usize + 1;
    let has_lines = symbols.at(own).iter().any(|frame| frame.line > 0 && !frame.file.is_empty());
    let tokio = tokio::runtime::Handle::try_current as *const () as usize + 1;
    let version = symbols.at(tokio).iter().find_map(|frame| tokio_version_in(&frame.file));
    // Resolving parsed the binary's debug info; give it back, it is not needed again.
    backtrace::clear_symbol_cache();
    let line_tables = if has_lines { Presence::Present } else { Presence::Absent };
    (line_tables, version.unwrap_or_default())
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn symbolised() -> (Presence, String) {
    (Presence::Unknown, String::new())
}

/// The version in a path like `/home/u/.cargo/registry/src/index…/tokio-1.54.0/src/lib.rs`.
fn tokio_version_in(path: &str) -> Option<String> {
    path.split(['/', '\\']).find_map(|part| {
        let version = part.strip_prefix("tokio-")?;
        let numbers: Vec<&str> = version.split('.').collect();
        let release = numbers.len() == 3 && numbers.iter().all(|n| n.parse::<u32>().is_ok());
        release.then(|| version.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, expected: Option<&str>) {
        assert_eq!(tokio_version_in(path).as_deref(), expected, "{path}");
    }

    #[test]
    fn tokio_versions_come_from_registry_paths() {
        check(
            "/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.0/src/lib.rs",
            Some("1.54.0"),
        );
        check("C:\\cargo\\registry\\src\\x\\tokio-1.60.12\\src\\lib.rs", Some("1.60.12"));
        check("/h/.cargo/registry/src/x/tokio-util-0.7.1/src/lib.rs", None);
        check("/h/.cargo/registry/src/x/tokio-macros-2.5.0/src/lib.rs", None);
        check("/work/tokio/tokio/src/lib.rs", None);
        check("/h/.cargo/registry/src/x/tokio-1.54.0-rc.1/src/lib.rs", None);
        check("", None);
    }

    /// This crate's tests build with frame pointers (`.cargo/config.toml`, and CI's stable build
    /// sets them too) and the test profile's full debug info, so both probes must find them.
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[test]
    fn the_probes_find_this_build_s_frame_pointers_and_line_tables() {
        let facts = build_facts();
        assert_eq!(facts.frame_pointers, Presence::Present);
        assert_eq!(facts.line_tables, Presence::Present);
        assert!(facts.tokio_version.starts_with("1."), "{facts:?}");
    }
}
