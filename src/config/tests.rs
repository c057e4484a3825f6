use super::*;

/// Loads with no environment layer: tests run in parallel and must not
/// see each other's variables. The environment layer is exercised by the
/// binary tests in `tests/api/binary.rs`.
fn load(overrides: Overrides) -> Result<Config, ConfigError> {
    Config::load_from(
        &overrides,
        Env::prefixed("CHORUS_UNIT_TEST_UNSET__").split("__"),
    )
}

/// Loads the defaults with a `--config` file holding `toml`.
fn load_file(toml: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).unwrap();
    load(Overrides {
        config_file: Some(path),
        ..Default::default()
    })
}

#[test]
fn the_defaults_load_and_use_the_echo_provider() {
    let c = load(Overrides::default()).unwrap();
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.chat.default_provider, "echo");
    assert_eq!(c.providers["echo"].kind, ProviderKind::Echo);
    assert_eq!(c.limits.json_body_bytes, 1 << 20);
}

#[test]
fn flags_override_the_file() {
    let overrides = Overrides {
        bind: Some("127.0.0.1:0".into()),
        data_dir: Some("/tmp/x".into()),
        ..Default::default()
    };
    let c = load(overrides).unwrap();
    assert_eq!(c.server.bind.port(), 0);
    assert_eq!(c.store.data_dir, std::path::PathBuf::from("/tmp/x"));
}

#[test]
fn an_unknown_key_in_a_file_is_named() {
    let err = load_file("[server]\nmax_conections = 5\n").unwrap_err();
    assert!(err.to_string().contains("max_conections"), "{err}");
}

#[test]
fn a_secret_in_a_file_is_refused() {
    let err = load_file("[auth]\njwt_secret = \"hunter2\"\n").unwrap_err();
    assert_eq!(err.key, "auth.jwt_secret");
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn a_fallback_must_name_another_provider() {
    let err = load_file("[providers.echo]\nfallback = \"nobody\"\n").unwrap_err();
    assert_eq!(err.key, "providers.echo.fallback");
}

#[test]
fn a_secret_never_shows_in_debug_output() {
    let s: Secret = serde_json::from_str("\"sk-very-secret\"").unwrap();
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(s.expose(), "sk-very-secret");
}

#[test]
fn a_file_changes_only_the_keys_it_names() {
    let c = load_file("[rate_limits]\nauth = 1000\n").unwrap();
    assert_eq!(c.rate_limits.auth, 1000);
    assert_eq!(c.rate_limits.ai, 60, "other keys keep their defaults");
}
