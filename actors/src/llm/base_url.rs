//! Where a provider is called: its `base_url` as the provider documents it,
//! with or without the version suffix (or even the whole endpoint pasted),
//! turned into the one URL a chat is POSTed to.

use reqwest::Url;

use super::ProviderKind;

/// Why a `base_url` cannot be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadBaseUrl {
    /// It does not parse as an absolute URL.
    #[error("not a URL: {0}")]
    Parse(String),
    /// Only `http` and `https` are spoken.
    #[error("the scheme must be http or https, not {0:?}")]
    Scheme(String),
    /// Every kind but echo calls a URL.
    #[error("required for this kind")]
    Missing,
}

/// The URL a chat of `kind` is POSTed to; `None` for echo, which calls nothing.
///
/// | kind | accepted `base_url` | called |
/// |---|---|---|
/// | openai | `https://api.openai.com/v1`, or the bare host (gets `/v1`); any other path is kept (`https://openrouter.ai/api/v1`) | `<root>/chat/completions` |
/// | anthropic | `https://api.anthropic.com`, with or without `/v1` | `<host>/v1/messages` |
/// | ollama | `http://localhost:11434`, with or without `/api` | `<host>/api/chat` |
///
/// The endpoint itself (`.../v1/chat/completions`, `.../v1/messages`,
/// `.../api/chat`) is accepted too. A query string is kept.
pub fn chat_url(kind: ProviderKind, base_url: Option<&str>) -> Result<Option<Url>, BadBaseUrl> {
    if kind == ProviderKind::Echo {
        return Ok(None);
    }
    let base_url = base_url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or(BadBaseUrl::Missing)?;
    let mut url = Url::parse(base_url).map_err(|e| BadBaseUrl::Parse(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadBaseUrl::Scheme(url.scheme().to_string()));
    }
    let given = url.path().trim_end_matches('/');
    let path = match kind {
        ProviderKind::Openai => {
            let root = given.strip_suffix("/chat/completions").unwrap_or(given);
            let root = if root.is_empty() { "/v1" } else { root };
            format!("{root}/chat/completions")
        }
        ProviderKind::Anthropic => {
            let root = strip_any(given, &["/v1/messages", "/v1"]);
            format!("{root}/v1/messages")
        }
        ProviderKind::Ollama => {
            let root = strip_any(given, &["/api/chat", "/api"]);
            format!("{root}/api/chat")
        }
        ProviderKind::Echo => return Ok(None),
    };
    url.set_path(&path);
    url.set_fragment(None);
    Ok(Some(url))
}

/// `path` without the first of `suffixes` it ends with.
fn strip_any<'a>(path: &'a str, suffixes: &[&str]) -> &'a str {
    suffixes
        .iter()
        .find_map(|s| path.strip_suffix(s))
        .unwrap_or(path)
}

/// `url` as it may be logged or printed: without a user name, password or
/// query string (any of them may hold a credential).
pub fn for_log(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let had_query = shown.query().is_some();
    shown.set_query(None);
    if had_query {
        format!("{shown}?[redacted]")
    } else {
        shown.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn called(kind: ProviderKind, base_url: &str) -> String {
        chat_url(kind, Some(base_url))
            .map(|u| u.map(|u| u.to_string()).unwrap_or_default())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn openai_accepts_the_root_with_or_without_v1() {
        let want = "https://api.openai.com/v1/chat/completions";
        for given in [
            "https://api.openai.com/v1",
            "https://api.openai.com/v1/",
            "https://api.openai.com",
            "https://api.openai.com/",
            "https://api.openai.com/v1/chat/completions",
        ] {
            assert_eq!(called(ProviderKind::Openai, given), want, "{given}");
        }
    }

    #[test]
    fn an_openai_compatible_server_keeps_its_own_path() {
        assert_eq!(
            called(ProviderKind::Openai, "http://gpu-box:8000/v1"),
            "http://gpu-box:8000/v1/chat/completions"
        );
        assert_eq!(
            called(ProviderKind::Openai, "http://localhost:1234/v1/"),
            "http://localhost:1234/v1/chat/completions"
        );
        assert_eq!(
            called(ProviderKind::Openai, "https://openrouter.ai/api/v1"),
            "https://openrouter.ai/api/v1/chat/completions"
        );
        assert_eq!(
            called(ProviderKind::Openai, "http://localhost:11434/v1"),
            "http://localhost:11434/v1/chat/completions",
            "Ollama's OpenAI-compatible API"
        );
    }

    #[test]
    fn anthropic_accepts_the_host_with_or_without_v1() {
        let want = "https://api.anthropic.com/v1/messages";
        for given in [
            "https://api.anthropic.com",
            "https://api.anthropic.com/",
            "https://api.anthropic.com/v1",
            "https://api.anthropic.com/v1/",
            "https://api.anthropic.com/v1/messages",
        ] {
            assert_eq!(called(ProviderKind::Anthropic, given), want, "{given}");
        }
        assert_eq!(
            called(
                ProviderKind::Anthropic,
                "https://gateway.example/anthropic/v1"
            ),
            "https://gateway.example/anthropic/v1/messages",
            "a gateway's prefix is kept"
        );
    }

    #[test]
    fn ollama_accepts_the_host_with_or_without_api() {
        let want = "http://localhost:11434/api/chat";
        for given in [
            "http://localhost:11434",
            "http://localhost:11434/",
            "http://localhost:11434/api",
            "http://localhost:11434/api/",
            "http://localhost:11434/api/chat",
        ] {
            assert_eq!(called(ProviderKind::Ollama, given), want, "{given}");
        }
    }

    #[test]
    fn a_query_is_kept_and_a_bad_url_is_named() {
        assert_eq!(
            called(ProviderKind::Openai, "https://x.example/v1?api-version=2"),
            "https://x.example/v1/chat/completions?api-version=2"
        );
        assert!(called(ProviderKind::Openai, "api.openai.com/v1").starts_with("error: not a URL"));
        assert!(called(ProviderKind::Ollama, "ftp://h/").contains("http or https"));
        assert_eq!(
            chat_url(ProviderKind::Anthropic, None).unwrap_err(),
            BadBaseUrl::Missing
        );
        assert_eq!(chat_url(ProviderKind::Echo, None).unwrap(), None);
    }

    #[test]
    fn a_logged_url_shows_no_credentials() {
        let url = Url::parse("https://user:pw@h.example/v1/chat/completions?key=sk-1").unwrap();
        let shown = for_log(&url);
        assert_eq!(shown, "https://h.example/v1/chat/completions?[redacted]");
        assert!(!shown.contains("pw") && !shown.contains("sk-1"));
    }
}
