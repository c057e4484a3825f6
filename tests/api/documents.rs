//! Documents (API.md 7): upload, ingestion, search, and retrieval into chat.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_llm::{Behaviour, FakeLlm};
use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with, sse_events, until_done};

const SECRET: &str =
    "The lighthouse keeper painted the door a deep cobalt blue in the spring of 1911.";

/// A text of many paragraphs with `needle` somewhere in the middle.
fn long_text(needle: &str) -> String {
    let filler = "Tides rise and fall along the rocky coast while gulls circle overhead. ";
    let mut paragraphs: Vec<String> = (0..12)
        .map(|i| format!("Paragraph {i}. {}", filler.repeat(8)))
        .collect();
    paragraphs.insert(6, needle.to_string());
    paragraphs.join("\n\n")
}

impl TestApp {
    /// Uploads `text` as JSON; waits until the document is ready; answers its id.
    pub(crate) async fn document(&self, token: &str, title: &str, text: &str) -> String {
        let r = self
            .post_json(
                "/documents",
                Some(token),
                json!({"title": title, "text": text}),
            )
            .await;
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "processing");
        let id = body["document_id"].as_str().unwrap().to_string();
        self.document_ready(token, &id).await;
        id
    }

    pub(crate) async fn document_ready(&self, token: &str, id: &str) -> Value {
        eventually("the document to be ready", || async {
            let doc: Value = self.get_json(&format!("/documents/{id}"), token).await;
            (doc["status"] == "ready").then_some(doc)
        })
        .await
    }

    pub(crate) async fn upload(
        &self,
        token: &str,
        filename: &str,
        content: &[u8],
    ) -> reqwest::Response {
        let boundary = "chorusboundary7d3f";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.client
            .post(self.url("/api/v1/documents"))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_uploaded_document_is_chunked_indexed_and_found_by_its_owner_only() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let id = app
        .document(&ada.access, "Coast notes", &long_text(SECRET))
        .await;
    app.document(
        &ada.access,
        "Other",
        &long_text("Nothing about doors here."),
    )
    .await;

    let doc: Value = app.get_json(&format!("/documents/{id}"), &ada.access).await;
    assert!(doc["chunk_count"].as_u64().unwrap() > 1, "{doc}");
    assert!(doc["size_bytes"].as_u64().unwrap() > 1000);
    let chunks: Value = app
        .get_json(&format!("/documents/{id}/chunks?limit=100"), &ada.access)
        .await;
    assert_eq!(chunks["total"], doc["chunk_count"]);
    assert!(
        chunks["items"].as_array().unwrap().iter().all(|c| c["text"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 1500)
    );

    let hits: Value = app
        .get_json(
            "/documents/search?q=cobalt%20blue%20door%20lighthouse",
            &ada.access,
        )
        .await;
    let first = &hits[0];
    assert_eq!(first["document_id"], id.as_str());
    assert!(first["text"].as_str().unwrap().contains(SECRET), "{first}");
    assert!(first["score"].as_f64().unwrap() > 0.0);

    let theirs: Value = app
        .get_json(
            "/documents/search?q=cobalt%20blue%20door%20lighthouse",
            &bob.access,
        )
        .await;
    assert_eq!(theirs, json!([]));
    let r = app.get_as(&format!("/documents/{id}"), &bob.access).await;
    assert_eq!(r.status(), 404);

    let r = app
        .send(
            Method::DELETE,
            &format!("/documents/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let hits: Value = app
        .get_json("/documents/search?q=cobalt", &ada.access)
        .await;
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .all(|h| h["document_id"] != id.as_str())
    );
}

#[tokio::test]
async fn multipart_uploads_take_text_and_markdown_only() {
    let app = spawn_app_with(|c| c.limits.upload_bytes = 4096, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let r = app
        .upload(&ada.access, "notes.md", b"# Notes\n\nThe quokka smiles.")
        .await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    let doc = app
        .document_ready(&ada.access, body["document_id"].as_str().unwrap())
        .await;
    assert_eq!(doc["title"], "notes.md");

    let r = app.upload(&ada.access, "report.pdf", b"%PDF-1.7").await;
    assert_eq!(r.status(), 415);
    let r = app
        .upload(&ada.access, "latin1.txt", &[0x63, 0x61, 0x66, 0xe9])
        .await;
    assert_eq!(r.status(), 415);
    let r = app.upload(&ada.access, "big.txt", &[b'a'; 8192]).await;
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_chat_with_document_ids_sends_the_retrieved_chunk_to_the_provider() {
    let fake = FakeLlm::start(Behaviour::Answer).await;
    let app = spawn_app_with(|c| fake.configure(c), axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let doc = app
        .document(&ada.access, "Coast notes", &long_text(SECRET))
        .await;
    let conv = app
        .conversation(
            &ada.access,
            json!({"provider": "fake", "metadata": {"document_ids": [doc]}}),
        )
        .await;
    let events = until_done(&mut sse_events(
        app.chat(&ada.access, &conv, "What colour is the lighthouse door?")
            .await,
    ))
    .await;
    assert_eq!(events.last().unwrap().event, "done");
    let sent = fake.last_body.lock().unwrap().clone().unwrap();
    let system = sent["messages"][0].clone();
    assert_eq!(system["role"], "system", "{sent}");
    assert!(
        system["content"].as_str().unwrap().contains(SECRET),
        "{system}"
    );

    // Without document_ids, nothing is retrieved.
    let plain = app
        .conversation(&ada.access, json!({"provider": "fake"}))
        .await;
    until_done(&mut sse_events(
        app.chat(&ada.access, &plain, "What colour is the door?")
            .await,
    ))
    .await;
    let sent = fake.last_body.lock().unwrap().clone().unwrap();
    assert!(!sent.to_string().contains("cobalt"));
}
