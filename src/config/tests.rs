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

const ONE_OPENAI: &str = "[providers.openai]\nkind = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\ndefault_model = \"gpt-4o-mini\"\n";

#[test]
fn the_only_real_provider_becomes_the_default() {
    let c = load_file(ONE_OPENAI).unwrap();
    assert_eq!(c.chat.default_provider, "openai");
    assert_eq!(c.chat.default_choice, DefaultChoice::OnlyRealProvider);

    let c = load(Overrides::default()).unwrap();
    assert_eq!(c.chat.default_provider, "echo");
    assert_eq!(c.chat.default_choice, DefaultChoice::EchoOnly);

    let c = load_file(&format!(
        "{ONE_OPENAI}[chat]\ndefault_provider = \"echo\"\n"
    ))
    .unwrap();
    assert_eq!(c.chat.default_provider, "echo", "a named default is kept");
    assert_eq!(c.chat.default_choice, DefaultChoice::Configured);
}

#[test]
fn several_real_providers_and_no_default_is_an_error() {
    let two = format!(
        "{ONE_OPENAI}[providers.local]\nkind = \"ollama\"\nbase_url = \"http://localhost:11434\"\ndefault_model = \"llama3.2\"\n"
    );
    let err = load_file(&two).unwrap_err();
    assert_eq!(err.key, "chat.default_provider");
    assert!(err.message.contains("local, openai"), "{err}");
    let c = load_file(&format!("{two}[chat]\ndefault_provider = \"local\"\n")).unwrap();
    assert_eq!(c.chat.default_provider, "local");
}

#[test]
fn a_provider_without_a_model_is_an_error_naming_the_key() {
    let err =
        load_file("[providers.gpt]\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\n")
            .unwrap_err();
    assert_eq!(err.key, "providers.gpt.default_model");
    let listed = "[providers.gpt]\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nmodels = [\"gpt-4o\"]\n";
    assert!(load_file(listed).is_ok(), "a listed model is enough");
    let echo = "[providers.slow]\nkind = \"echo\"\ntokens_per_s = 5\n[chat]\ndefault_provider = \"echo\"\n";
    assert!(load_file(echo).is_ok(), "echo sends no model");
}

#[test]
fn a_base_url_that_cannot_be_called_is_named() {
    for bad in ["api.openai.com/v1", "ftp://api.openai.com", ""] {
        let toml = format!(
            "[providers.gpt]\nkind = \"openai\"\nbase_url = \"{bad}\"\ndefault_model = \"m\"\n"
        );
        let err = load_file(&toml).unwrap_err();
        assert_eq!(err.key, "providers.gpt.base_url", "{bad}: {err}");
    }
}

#[test]
fn the_printed_configuration_redacts_every_secret() {
    let mut c = load_file(ONE_OPENAI).unwrap();
    c.providers.get_mut("openai").unwrap().api_key = Some(Secret::new("sk-live-123"));
    c.auth.jwt_secret = Some(Secret::new("a-very-long-signing-secret-value"));
    let printed = c.to_toml().unwrap();
    assert!(!printed.contains("sk-live-123") && !printed.contains("signing-secret"));
    assert!(printed.contains("api_key = \"[redacted]\""), "{printed}");
    let parsed: toml::Value = toml::from_str(&printed).unwrap();
    assert_eq!(parsed["chat"]["default_provider"].as_str(), Some("openai"));
    assert_eq!(
        parsed["providers"]["openai"]["base_url"].as_str(),
        Some("https://api.openai.com/v1")
    );
}

/// The `[providers.*]` blocks shown as comments in `config/default.toml`.
fn documented_provider_blocks() -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in DEFAULT_TOML.lines() {
        let body = line.strip_prefix("#   ");
        match (body, current.as_mut()) {
            (Some(b), None) if b.starts_with("[providers.") => current = Some(format!("{b}\n")),
            (Some(b), Some(block)) if !b.starts_with(' ') => block.push_str(&format!("{b}\n")),
            (_, Some(_)) => blocks.extend(current.take()),
            _ => {}
        }
    }
    blocks.extend(current);
    blocks
}

#[test]
fn every_documented_provider_block_loads() {
    let blocks = documented_provider_blocks();
    assert_eq!(
        blocks.len(),
        4,
        "OpenAI, Anthropic, Ollama, compatible: {blocks:?}"
    );
    for block in blocks {
        let toml = format!("{block}[chat]\ndefault_provider = \"echo\"\n");
        let toml = toml.replace("fallback = \"openai\"\n", "");
        let c = load_file(&toml).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(c.providers.len(), 2, "{block}");
    }
}

#[test]
fn incoming_webhook_sources_sit_beside_the_outgoing_keys() {
    let c = load(Overrides::default()).unwrap();
    assert!(c.webhooks.sources.is_empty(), "none by default");
    assert!(c.webhooks.url.is_empty());
    let err = load_file("[webhooks.sources.github]\nevents = [\"push\"]\n").unwrap_err();
    assert_eq!(
        err.key, "webhooks.sources.github.secret",
        "no secret: refused"
    );
    let err = load_file("[webhooks.sources.github]\nsecret = \"whsec_file\"\n").unwrap_err();
    assert_eq!(err.key, "webhooks.sources.github.secret");
    assert!(!err.to_string().contains("whsec_file"));
}

#[test]
fn s3_keys_in_a_file_are_refused_and_s3_needs_a_bucket() {
    let err = load_file("[files.s3]\nsecret_access_key = \"hunter2\"\n").unwrap_err();
    assert_eq!(err.key, "files.s3.secret_access_key");
    assert!(!err.to_string().contains("hunter2"));
    let err = load_file("[files]\nstore = \"s3\"\n").unwrap_err();
    assert_eq!(err.key, "files.s3.bucket");
    let err = load_file("[files]\nstore = \"ftp\"\n").unwrap_err();
    assert!(err.to_string().contains("files.store"), "{err}");
}
