//! The web console's page and assets (API.md 13): served at `/` from the
//! binary, with a strict CSP on the page, ETags and year-long immutable
//! caching of versioned assets. The page itself is tested in a real
//! browser by `tests/console/`.

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

use crate::helpers::{TestApp, envelope, spawn_app};

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Every `/console/...` URL the page names in `href` or `src`.
fn asset_urls(page: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["href=\"", "src=\""] {
        for (i, _) in page.match_indices(attr) {
            let rest = &page[i + attr.len()..];
            let url = &rest[..rest.find('"').unwrap()];
            if url.starts_with("/console/") {
                urls.push(url.to_string());
            }
        }
    }
    urls
}

async fn page(app: &TestApp) -> String {
    app.get("/").await.text().await.unwrap()
}

#[tokio::test]
async fn the_page_is_html_with_a_strict_policy_and_no_cache() {
    let app = spawn_app().await;
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header(&r, CACHE_CONTROL), "no-cache");
    let csp = header(&r, CONTENT_SECURITY_POLICY);
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(&r, "x-frame-options".parse().unwrap()), "DENY");
    let html = r.text().await.unwrap();
    assert!(html.contains("<title>chorus</title>"));
    assert!(!html.contains("{{version}}"), "the version is filled in");
    assert!(
        !html.contains(" style=") && !html.contains("<style"),
        "no inline style"
    );
    assert!(
        !html.contains("<script>") && !html.contains("javascript:"),
        "no inline script"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_etag_the_client_holds_answers_304() {
    let app = spawn_app().await;
    let first = app.get("/").await;
    let tag = header(&first, ETAG);
    assert!(tag.starts_with('"') && tag.len() > 10, "{tag}");
    let again = app
        .client
        .get(app.url("/"))
        .header(IF_NONE_MATCH, &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = app
        .client
        .get(app.url("/"))
        .header(IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn versioned_assets_are_immutable_and_all_resolve() {
    let app = spawn_app().await;
    let html = page(&app).await;
    let urls = asset_urls(&html);
    assert!(
        urls.iter().any(|u| u.ends_with("/app.js")) && urls.iter().any(|u| u.ends_with("/app.css")),
        "{urls:?}"
    );
    for url in &urls {
        let r = app.get(url).await;
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(
            header(&r, CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        let tag = header(&r, ETAG);
        let held = app
            .client
            .get(app.url(url))
            .header(IF_NONE_MATCH, &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(held.status(), 304, "{url}");
    }
    let entry = urls.iter().find(|u| u.ends_with("/app.js")).unwrap();
    let js = app.get(entry).await;
    assert!(header(&js, CONTENT_TYPE).starts_with("text/javascript"));
    // A module the entry imports, by the relative URL a browser resolves.
    let base = urls[0].rsplit_once('/').unwrap().0;
    let chat = app.get(&format!("{base}/chat.js")).await;
    assert_eq!(chat.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_asset_of_another_version_is_served_but_not_cached_for_long() {
    let app = spawn_app().await;
    let r = app.get("/console/0000000000000000/app.css").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, CACHE_CONTROL), "no-cache");
    assert!(header(&r, CONTENT_TYPE).starts_with("text/css"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_assets_and_paths_still_get_the_404_envelope() {
    let app = spawn_app().await;
    let html = page(&app).await;
    let base = asset_urls(&html)[0].rsplit_once('/').unwrap().0.to_string();
    for path in [
        format!("{base}/nope.js"),
        format!("{base}/..%2Fmain.rs"),
        "/nope".to_string(),
        "/api/v1/nope".to_string(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(envelope(r).await["error"]["code"], "NOT_FOUND", "{path}");
    }
    app.stop().await;
}

/// The modules `js` imports (`from './x.js'`), by name.
fn imports(js: &str) -> Vec<String> {
    js.match_indices("from './")
        .map(|(i, m)| {
            let rest = &js[i + m.len()..];
            rest[..rest.find('\'').unwrap()].to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_page_and_every_asset_it_loads_weigh_under_100_kb() {
    let app = spawn_app().await;
    let html = page(&app).await;
    let first = asset_urls(&html);
    let base = first[0].rsplit_once('/').unwrap().0.to_string();
    let mut todo: Vec<String> = first
        .iter()
        .map(|u| u.rsplit_once('/').unwrap().1.to_string())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut total = html.len();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let r = app.get(&format!("{base}/{name}")).await;
        assert_eq!(r.status(), 200, "{name}");
        let text = r.text().await.unwrap();
        total += text.len();
        todo.extend(imports(&text));
    }
    println!(
        "console page weight: {total} bytes in {} assets",
        seen.len()
    );
    assert!(
        seen.len() >= 8 && seen.contains("chat.js") && seen.contains("stream.js"),
        "{seen:?}"
    );
    assert!(total < 100 * 1024, "{total} bytes");
    app.stop().await;
}
