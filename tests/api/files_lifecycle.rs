//! Files after the upload (API.md 8): an upload never confirmed is swept
//! with its object, and an uploaded text file becomes a document. The
//! signed-URL round trips and their refusals are in `files.rs`.

use serde_json::{Value, json};

use crate::files::{code, files_app, object};
use crate::helpers::{envelope, eventually};

#[tokio::test]
async fn an_upload_never_confirmed_is_swept_with_its_object() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |c| {
        c.files.pending_ttl_s = 1;
        c.files.max_bytes_per_user = 10;
    })
    .await;
    let ada = app.sign_up("ada").await;
    let kept = app.uploaded_file(&ada.access, "kept.txt", b"keep").await;
    let (id, url) = app.new_upload(&ada.access, "a.txt", 5).await;
    assert_eq!(
        app.client
            .put(&url)
            .body("hello")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let path = object(dir.path(), &ada, &id);
    assert!(path.exists());
    eventually("the sweeper to remove the pending file", || async {
        let status = app
            .get_as(&format!("/files/{id}"), &ada.access)
            .await
            .status();
        (status == 404 && !path.exists()).then_some(())
    })
    .await;
    // The confirmed one stays, and the swept bytes left the quota.
    let file = app.get_json(&format!("/files/{kept}"), &ada.access).await;
    assert_eq!(file["status"], "uploaded");
    assert!(object(dir.path(), &ada, &kept).exists());
    assert_eq!(app.upload_url(&ada.access, "b.txt", 6).await.status(), 201);
}

#[tokio::test]
async fn an_uploaded_text_file_becomes_a_searchable_document() {
    let dir = tempfile::tempdir().unwrap();
    let app = files_app(dir.path(), |_| {}).await;
    let ada = app.sign_up("ada").await;
    // Over 1 MiB, so ingestion reads it in more than one segment.
    let paragraph = "Tides rise and fall along the rocky coast while gulls circle overhead.\n\n";
    let mut text = paragraph.repeat(9_000);
    text.push_str("The lighthouse keeper painted the door cobalt blue.\n\n");
    text.push_str(&paragraph.repeat(9_000));
    let (id, url) = app.new_upload(&ada.access, "coast.md", text.len()).await;
    let r = app
        .post_json("/documents", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(code(r).await, (409, "CONFLICT".into()), "not uploaded yet");
    assert_eq!(
        app.client
            .put(&url)
            .body(text.clone())
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

    let r = app
        .post_json("/documents", Some(&ada.access), json!({"file_id": id}))
        .await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    let doc_id = body["document_id"].as_str().unwrap().to_string();
    let doc = app.document_ready(&ada.access, &doc_id).await;
    assert_eq!(doc["title"], "coast.md");
    assert_eq!(doc["size_bytes"], text.len());
    assert!(doc["chunk_count"].as_u64().unwrap() > 100, "{doc}");
    let hits = app
        .get_json("/documents/search?q=lighthouse%20cobalt", &ada.access)
        .await;
    assert_eq!(hits[0]["document_id"], doc_id.as_str());
    assert!(hits[0]["text"].as_str().unwrap().contains("cobalt blue"));

    // Not text: 415; a bad id: 422; someone else's: 404.
    let bin = app
        .uploaded_file(&ada.access, "photo.png", b"\x89PNG")
        .await;
    let r = app
        .post_json("/documents", Some(&ada.access), json!({"file_id": bin}))
        .await;
    assert_eq!(code(r).await, (415, "UNSUPPORTED_MEDIA_TYPE".into()));
    let r = app
        .post_json("/documents", Some(&ada.access), json!({"file_id": "nope"}))
        .await;
    assert_eq!(envelope(r).await["error"]["details"]["field"], "file_id");
    let bob = app.sign_up("bob").await;
    let r = app
        .post_json("/documents", Some(&bob.access), json!({"file_id": id}))
        .await;
    assert_eq!(code(r).await, (404, "NOT_FOUND".into()));
}
