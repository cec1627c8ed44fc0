//! Dependency hygiene, checked in `cargo xtask ci`: no workspace crate declares a dependency its
//! sources never name, and the agent's default dependency tree stays within its budget.
//!
//! The budget is on what an app links: `cargo tree -p leakscope -e normal` with default features,
//! counted as unique `name version` pairs (leakscope itself included). It was 92 when set (88
//! without the default `layer` feature, 131 with every feature); the headroom is small on purpose,
//! so that growing the tree is a decision someone writes down here.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Most unique crates `cargo tree -p leakscope -e normal` may list with default features.
const AGENT_TREE_BUDGET: usize = 96;

/// Runs both checks.
pub(crate) fn check(cargo: &str, root: &Path) -> Result<()> {
    println!("==> dependencies: none unused, agent tree within {AGENT_TREE_BUDGET} crates");
    let unused = unused_dependencies(cargo, root)?;
    if !unused.is_empty() {
        bail!("dependencies declared but never used in the crate's sources: {}", unused.join(", "));
    }
    let count = agent_tree_count(cargo, root)?;
    println!("    leakscope's default dependency tree: {count} crates");
    if count > AGENT_TREE_BUDGET {
        bail!(
            "leakscope's default dependency tree has {count} crates, over the budget of \
             {AGENT_TREE_BUDGET} (xtask/src/deps.rs): make the new dependency optional, or raise \
             the budget there and say why"
        );
    }
    Ok(())
}

/// `crate -> dependency` for every declared dependency whose name appears in none of the
/// crate's Rust sources.
fn unused_dependencies(cargo: &str, root: &Path) -> Result<Vec<String>> {
    let metadata = crate::package::metadata(cargo, root)?;
    let mut unused = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let Some(dir) = manifest.parent() else { continue };
        let sources = rust_sources(dir)?;
        let declared: BTreeSet<String> = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|dep| {
                dep["rename"]
                    .as_str()
                    .or(dep["name"].as_str())
                    .unwrap_or_default()
                    .replace('-', "_")
            })
            .collect();
        for ident in declared {
            if !sources.iter().any(|text| names(text, &ident)) {
                unused.push(format!("{name} -> {ident}"));
            }
        }
    }
    Ok(unused)
}

/// The text of every `.rs` file under `dir`, skipping build output.
fn rust_sources(dir: &Path) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir:?}"))? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target" && n != ".git") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                texts.push(std::fs::read_to_string(&path).with_context(|| format!("{path:?}"))?);
            }
        }
    }
    Ok(texts)
}

/// Whether `text` names the crate `ident` in code: `ident::`, `use ident`, `extern crate ident`,
/// or `ident!`, outside `//` comments.
fn names(text: &str, ident: &str) -> bool {
    text.lines().any(|line| {
        let code = line.split("//").next().unwrap_or_default();
        code.match_indices(ident).any(|(at, _)| {
            let before = code[..at].chars().next_back();
            let after = &code[at + ident.len()..];
            let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let used = after.starts_with("::")
                || after.starts_with('!')
                || code[..at].trim_end().ends_with("use")
                || code[..at].trim_end().ends_with("extern crate");
            starts_word && used
        })
    })
}

/// Unique `name version` pairs in the agent's default normal-dependency tree.
fn agent_tree_count(cargo: &str, root: &Path) -> Result<usize> {
    let out = Command::new(cargo)
        .args(["tree", "-p", "leakscope", "-e", "normal", "--prefix", "none"])
        .current_dir(root)
        .output()
        .context("failed to run cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(tree_count(&String::from_utf8_lossy(&out.stdout)))
}

/// Counts the unique crates of `cargo tree --prefix none` output.
pub(crate) fn tree_count(tree: &str) -> usize {
    tree.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect::<BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, ident: &str, expected: bool) {
        assert_eq!(names(text, ident), expected, "{ident} in {text:?}");
    }

    #[test]
    fn crate_names_are_found_in_code_only() {
        check("use tokio::sync::mpsc;", "tokio", true);
        check("#[tokio::main]", "tokio", true);
        check("    serde_json::from_str(s)", "serde_json", true);
        check("use anyhow;", "anyhow", true);
        check("extern crate libc;", "libc", true);
        check("let x = quote! { a };", "quote", true);
        check("// tokio::spawn in a comment", "tokio", false);
        check("let tokio_thing = 1;", "tokio", false);
        check("my_tokio::spawn()", "tokio", false);
        check("serde_json_x::y", "serde_json", false);
    }

    #[test]
    fn tree_counts_unique_crates() {
        let tree = "leakscope v0.1.0 (/w)\ntokio v1.54.1\nbytes v1.10.0\ntokio v1.54.1 (*)\n\n";
        assert_eq!(tree_count(tree), 3);
    }
}
