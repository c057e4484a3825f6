//! Files (API.md 8) on the local store: upload URL, a PUT with no other
//! auth, confirm, download, delete; signatures, sizes, quotas, the sweeper.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, envelope, eventually, spawn_app_with};

/// A server whose local store is `dir`, after `tweak`.
pub(crate) async fn files_app(
    dir: &Path,
    tweak: impl FnOnce(&mut chorus::config::Config),
) -> TestApp {
    let dir = dir.to_path_buf();
    spawn_app_with(
        move |c| {
            c.files.dir = dir;
            tweak(c);
        },
        Router::new(),
    )
    .await
}

/// The object of `file` of `user` in the local store at `dir`.
pub(crate) fn object(dir: &Path, user: &Session, file: &str) -> PathBuf {
    dir.join(&user.user_id).join(file)
}

impl TestApp {
    /// `POST /files/upload-url`; the response.
    pub(crate) async fn upload_url(
        &self,
        token: &str,
        name: &str,
        size: usize,
    ) -> reqwest::Response {
        let body = json!({"filename": name, "content_type": "text/plain", "size": size});
        self.post_json("/files/upload-url", Some(token), body).await
    }

    /// An upload URL for `size` bytes; answers (file id, URL).
    pub(crate) async fn new_upload(
        &self,
        token: &str,
        name: &str,
        size: usize,
    ) -> (String, String) {
        let r = self.upload_url(token, name, size).await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["expires_in"], 3600);
        (
            body["file_id"].as_str().unwrap().to_string(),
            body["upload_url"].as_str().unwrap().to_string(),
        )
    }

    /// Uploads and confirms `bytes`; answers the file id.
    pub(crate) async fn uploaded_file(&self, token: &str, name: &str, bytes: &[u8]) -> String {
        let (id, url) = self.new_upload(token, name, bytes.len()).await;
        let put = self
            .client
            .put(&url)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 204);
        let r = self
            .post_json("/files/confirm", Some(token), json!({"file_id": id}))
            .await;
        assert_eq!(r.status(), 200);
        id
    }
}

pub(crate) async fn code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body = envelope(r).await;
    (status, body["error"]["code"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_file_goes_up_and_down_through_signed_urls_and_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |_| {}).await;
    let ada = app.sign_up("ada").await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (id, url) = app.new_upload(&ada.access, "notes.bin", bytes.len()).await;
    assert!(
        url.starts_with(&app.url(&format!("/api/v1/files/{id}/content?"))),
        "{url}"
    );
    let file = app.get_json(&format!("/files/{id}"), &ada.access).await;
    assert_eq!(file["status"], "pending");
    assert_eq!(file["uploaded_at"], Value::Null);

    // A plain client, no Authorization header.
    let plain = reqwest::Client::new();
    let put = plain.put(&url).body(bytes.clone()).send().await.unwrap();
    assert_eq!(put.status(), 204);
    let r = app
        .post_json("/files/confirm", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(r.status(), 200);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["status"], "uploaded");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["filename"], "notes.bin");
    assert_eq!(file["content_type"], "text/plain");
    assert!(file["uploaded_at"].as_str().unwrap().ends_with('Z'));
    // Confirming again answers the same file.
    let again = app
        .post_json("/files/confirm", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(again.status(), 200);

    let page = app.get_json("/files", &ada.access).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id.as_str());

    let link = app
        .get_json(&format!("/files/{id}/download-url"), &ada.access)
        .await;
    assert_eq!(link["expires_in"], 3600);
    let download = link["download_url"].as_str().unwrap().to_string();
    let got = plain.get(&download).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert!(
        got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("notes.bin")
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // The upload URL is spent: the file is no longer pending.
    let reput = plain.put(&url).body(bytes.clone()).send().await.unwrap();
    assert_eq!(code(reput).await, (409, "CONFLICT".into()));

    let path = object(dir.path(), &ada, &id);
    assert!(path.exists());
    let r = app
        .send(
            Method::DELETE,
            &format!("/files/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.get_as(&format!("/files/{id}"), &ada.access)
            .await
            .status(),
        404
    );
    assert_eq!(
        code(plain.get(&download).send().await.unwrap()).await.0,
        404
    );
    eventually("the object to be removed", || async {
        (!path.exists()).then_some(())
    })
    .await;
    let page = app.get_json("/files", &ada.access).await;
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn a_tampered_signature_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |_| {}).await;
    let ada = app.sign_up("ada").await;
    let (_, url) = app.new_upload(&ada.access, "a.txt", 5).await;
    let (base, sig) = url.split_once("&sig=").unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{base}&sig={flipped}{}", &sig[1..]);
    let r = app
        .client
        .put(&tampered)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (403, "AUTHORIZATION_ERROR".into()));
    // A later expiry with the old signature.
    let (path, _) = url.split_once("?expires=").unwrap();
    let expires: i64 = base.split("expires=").nth(1).unwrap().parse().unwrap();
    let stretched = format!("{path}?expires={}&sig={sig}", expires + 1000);
    let r = app
        .client
        .put(&stretched)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await.0, 403);
    // The upload signature does not download.
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(code(r).await.0, 403);
    // The real one still works.
    let r = app.client.put(&url).body("hello").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(code(r).await.0, 403, "an upload URL is no download URL");
}

#[tokio::test]
async fn an_expired_url_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |c| c.files.url_ttl_s = 1).await;
    let ada = app.sign_up("ada").await;
    let r = app.upload_url(&ada.access, "a.txt", 5).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 1);
    let url = body["upload_url"].as_str().unwrap().to_string();
    let expires: u64 = url
        .split("expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    eventually("the URL's expiry to pass", || async {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (now > expires).then_some(())
    })
    .await;
    let r = app.client.put(&url).body("hello").send().await.unwrap();
    assert_eq!(code(r).await, (403, "AUTHORIZATION_ERROR".into()));
}

#[tokio::test]
async fn a_body_of_another_size_is_422_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |_| {}).await;
    let ada = app.sign_up("ada").await;
    let (id, url) = app.new_upload(&ada.access, "a.txt", 10).await;
    // Content-Length says so: refused before reading.
    let r = app.client.put(&url).body("short").send().await.unwrap();
    let (status, body) = (r.status(), envelope(r).await);
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["field"], "body");
    // Streamed (chunked, no length): counted as it arrives.
    for text in ["12345", "123456789012345"] {
        let chunks = vec![Ok::<_, std::io::Error>(text.as_bytes().to_vec())];
        let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let r = app.client.put(&url).body(stream).send().await.unwrap();
        assert_eq!(r.status(), 422, "{text}");
    }
    let r = app
        .post_json("/files/confirm", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(code(r).await, (409, "CONFLICT".into()));
    assert!(!object(dir.path(), &ada, &id).exists());
    // The right size, streamed, is taken.
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(vec![
        Ok::<_, std::io::Error>(b"12345".to_vec()),
        Ok(b"67890".to_vec()),
    ]));
    assert_eq!(
        app.client
            .put(&url)
            .body(stream)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = app
        .post_json("/files/confirm", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn confirming_before_the_upload_is_409() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |_| {}).await;
    let ada = app.sign_up("ada").await;
    let (id, _) = app.new_upload(&ada.access, "a.txt", 3).await;
    let r = app
        .post_json("/files/confirm", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(code(r).await, (409, "CONFLICT".into()));
    let r = app
        .get_as(&format!("/files/{id}/download-url"), &ada.access)
        .await;
    assert_eq!(code(r).await, (409, "CONFLICT".into()));
}

#[tokio::test]
async fn bad_announcements_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |c| c.files.max_bytes = 1000).await;
    let ada = app.sign_up("ada").await;
    let r = app.upload_url(&ada.access, "big.txt", 1001).await;
    assert_eq!(code(r).await, (413, "PAYLOAD_TOO_LARGE".into()));
    assert_eq!(
        app.upload_url(&ada.access, "ok.txt", 1000).await.status(),
        201
    );
    for (body, field) in [
        (
            json!({"filename": "", "content_type": "text/plain", "size": 1}),
            "filename",
        ),
        (
            json!({"filename": "a", "content_type": "plain", "size": 1}),
            "content_type",
        ),
        (
            json!({"filename": "a", "content_type": "text/plain", "size": -1}),
            "size",
        ),
        (
            json!({"filename": "a", "content_type": "text/plain"}),
            "size",
        ),
    ] {
        let r = app
            .post_json("/files/upload-url", Some(&ada.access), body)
            .await;
        assert_eq!(r.status(), 422);
        assert_eq!(envelope(r).await["error"]["details"]["field"], field);
    }
    let r = app.post_json("/files/upload-url", None, json!({})).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_per_user_quota_counts_pending_and_uploaded_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |c| c.files.max_bytes_per_user = 1000).await;
    let ada = app.sign_up("ada").await;
    let first = app.uploaded_file(&ada.access, "a.txt", &[7u8; 600]).await;
    let (_pending, _) = app.new_upload(&ada.access, "b.txt", 300).await;
    let r = app.upload_url(&ada.access, "c.txt", 101).await;
    assert_eq!(code(r).await, (429, "QUOTA_EXCEEDED".into()));
    // Another user has a quota of their own.
    let bob = app.sign_up("bob").await;
    assert_eq!(
        app.upload_url(&bob.access, "c.txt", 1000).await.status(),
        201
    );
    // Deleting frees the bytes at once.
    let r = app
        .send(
            Method::DELETE,
            &format!("/files/{first}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.upload_url(&ada.access, "c.txt", 700).await.status(),
        201
    );
}

#[tokio::test]
async fn another_users_file_is_404_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |_| {}).await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let id = app.uploaded_file(&ada.access, "a.txt", b"secret").await;
    let t = Some(bob.access.as_str());
    for r in [
        app.send(Method::GET, &format!("/files/{id}"), t, None)
            .await,
        app.send(Method::GET, &format!("/files/{id}/download-url"), t, None)
            .await,
        app.post_json("/files/confirm", t, json!({"file_id": id}))
            .await,
        app.send(Method::DELETE, &format!("/files/{id}"), t, None)
            .await,
    ] {
        assert_eq!(code(r).await, (404, "NOT_FOUND".into()));
    }
    assert_eq!(app.get_json("/files", &bob.access).await["total"], 0);
    // Still there for its owner.
    assert_eq!(
        app.get_as(&format!("/files/{id}"), &ada.access)
            .await
            .status(),
        200
    );
}
