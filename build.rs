//! Records the git commit the binary is built from, for `GET /version`.
#![allow(clippy::print_stdout)] // build scripts talk to cargo through stdout

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CHORUS_GIT_SHA");
    // A build without .git (a Docker context) may pass the sha in.
    let given = std::env::var("CHORUS_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty());
    let sha = given
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .and_then(|out| String::from_utf8(out.stdout).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CHORUS_GIT_SHA={sha}");
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
