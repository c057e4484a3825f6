//! Records the git commit the binary is built from, for `GET /version` and
//! `chorus -V`.
//!
//! Cargo treats a declared `rerun-if-changed` file that does not exist as
//! always changed, which reruns this script and recompiles the crate on
//! every build. So only files that exist are declared, found through git
//! itself (in a worktree `.git` is a file, and an unpacked repository has
//! no `packed-refs`).
#![allow(clippy::print_stdout)] // build scripts talk to cargo through stdout

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CHORUS_GIT_SHA");
    // A build without .git (a Docker context) may pass the sha in.
    let given = std::env::var("CHORUS_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty());
    let sha = given
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CHORUS_GIT_SHA={sha}");
    for path in watched() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The files whose change may move `HEAD`, those that exist: `HEAD`
/// itself, its reflog (appended on every commit, checkout and reset), the
/// branch it points to, and `packed-refs`.
fn watched() -> Vec<PathBuf> {
    let (Some(git_dir), Some(common_dir)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return Vec::new();
    };
    let (git_dir, common_dir) = (Path::new(&git_dir), Path::new(&common_dir));
    let mut paths = vec![
        git_dir.join("HEAD"),
        git_dir.join("logs").join("HEAD"),
        common_dir.join("packed-refs"),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(common_dir.join(branch));
    }
    paths.retain(|p| p.is_file());
    paths
}

/// `git args...` in the package's directory: its trimmed output, if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
