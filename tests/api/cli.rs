//! The command line as a newcomer meets it: `--help`, `-V`, `config print`
//! and `admin` outside a data dir.

use std::process::{Command, Output, Stdio};

fn run(args: &[&str], cwd: &std::path::Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn version_names_the_commit_as_the_version_route_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["-V"], dir.path(), &[]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "chorus {} (git {})",
            env!("CARGO_PKG_VERSION"),
            env!("CHORUS_GIT_SHA")
        )
    );
}

#[test]
fn help_explains_the_configuration_layers() {
    let dir = tempfile::tempdir().unwrap();
    let help = stdout(&run(&["--help"], dir.path(), &[]));
    assert!(help.contains("CHORUS__<SECTION>__<KEY>"), "{help}");
    assert!(help.contains("compiled into this binary"), "{help}");
    assert!(help.contains("config print"), "{help}");

    let admin = stdout(&run(&["admin", "create-user", "--help"], dir.path(), &[]));
    assert!(!admin.contains("--bind"), "{admin}");
    for flag in ["--email <EMAIL>", "--username <USERNAME>"] {
        let described = admin
            .lines()
            .find(|l| l.contains(flag))
            .is_some_and(|l| l.trim().len() > flag.len() + 10);
        assert!(described, "{flag} has no description: {admin}");
    }
}

#[test]
fn admin_outside_a_data_dir_names_the_dir_it_would_create() {
    let cwd = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "admin",
            "set-role",
            "--email",
            "a@example.com",
            "--role",
            "user",
        ],
        cwd.path(),
        &[],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    let would_create = cwd.path().join("data");
    assert!(
        said.contains(&format!("no data dir at {}", would_create.display())),
        "{said}"
    );
    assert!(said.contains("--data-dir"), "{said}");
    assert!(!would_create.exists(), "nothing is created");
}

#[test]
fn config_print_shows_every_layer_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chorus.toml");
    std::fs::write(&file, "[rate_limits]\nai = 7\n").unwrap();
    let out = run(
        &["config", "print", "--config", file.to_str().unwrap()],
        dir.path(),
        &[
            ("CHORUS__PROVIDERS__OPENAI__KIND", "openai"),
            (
                "CHORUS__PROVIDERS__OPENAI__BASE_URL",
                "https://api.openai.com",
            ),
            ("CHORUS__PROVIDERS__OPENAI__DEFAULT_MODEL", "gpt-4o-mini"),
            ("CHORUS__PROVIDERS__OPENAI__API_KEY", "sk-never-printed"),
            (
                "CHORUS__AUTH__JWT_SECRET",
                "a-signing-secret-never-printed-0123",
            ),
        ],
    );
    assert!(out.status.success());
    let printed = stdout(&out);
    assert!(!printed.contains("never-printed"), "{printed}");
    let config: toml::Value = toml::from_str(&printed).unwrap();
    assert_eq!(
        config["rate_limits"]["ai"].as_integer(),
        Some(7),
        "the file"
    );
    let openai = &config["providers"]["openai"];
    assert_eq!(openai["api_key"].as_str(), Some("[redacted]"), "the env");
    assert_eq!(openai["read_timeout_ms"].as_integer(), Some(60_000));
    assert_eq!(config["auth"]["jwt_secret"].as_str(), Some("[redacted]"));
    assert_eq!(
        config["chat"]["default_provider"].as_str(),
        Some("openai"),
        "the default as resolved"
    );
}
