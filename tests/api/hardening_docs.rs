//! Hardening of documents (issue 10, items 2 and 12): search text that used
//! to overflow a worker's stack, and a delete that ingestion used to undo.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{eventually, spawn_app, spawn_app_with, sse_events, until_done};

/// `depth` nested parentheses around a word: a 12 KB URL at 2,000.
fn nested(depth: usize) -> String {
    format!("{}cobalt{}", "(".repeat(depth), ")".repeat(depth))
}

#[tokio::test]
async fn a_search_of_two_thousand_nested_parentheses_cannot_crash_the_server() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    app.document(&ada.access, "Notes", "The door was painted cobalt blue.")
        .await;

    let q: String = form_urlencoded(&nested(2000));
    let r = app
        .get_as(&format!("/documents/search?q={q}"), &ada.access)
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "q");

    // The process is alive and still searches.
    assert_eq!(app.get("/live").await.status(), 200);
    let hits: Value = app
        .get_json("/documents/search?q=cobalt", &ada.access)
        .await;
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
}

#[tokio::test]
async fn query_grammar_in_a_search_is_plain_text_not_syntax() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    app.document(&ada.access, "Notes", "The door was painted cobalt blue.")
        .await;

    // Under the 256-character cap, as deep as it gets, plus fields, ranges,
    // phrases and boolean operators: all just words, and "cobalt" matches.
    for q in [
        nested(120),
        "title:(cobalt) AND user_id:[a TO z] OR \"door\"^9 -blue~2".to_string(),
        "cobalt".repeat(42),
    ] {
        assert!(q.chars().count() <= 256);
        let hits: Value = app
            .get_json(
                &format!("/documents/search?q={}", form_urlencoded(&q)),
                &ada.access,
            )
            .await;
        let hits = hits.as_array().unwrap();
        assert!(hits.len() <= 1, "{q}: {hits:?}");
        if q.contains("cobalt)") || q.contains("title:") {
            assert_eq!(hits.len(), 1, "{q} found nothing");
        }
    }
    let r = app
        .get_as(
            &format!("/documents/search?q={}", "a".repeat(257)),
            &ada.access,
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.get("/live").await.status(), 200);
}

#[tokio::test]
async fn a_chat_message_of_nested_parentheses_cannot_crash_retrieval() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let doc = app
        .document(&ada.access, "Notes", "The door was painted cobalt blue.")
        .await;
    let conv = app
        .conversation(&ada.access, json!({"metadata": {"document_ids": [doc]}}))
        .await;
    // Retrieval searches with the user's message: 20,000 levels deep here.
    let r = app.chat(&ada.access, &conv, &nested(20_000)).await;
    assert_eq!(r.status(), 200);
    let events = until_done(&mut sse_events(r)).await;
    assert_eq!(events.last().unwrap().event, "done", "{events:?}");
    assert_eq!(app.get("/live").await.status(), 200);
}

#[tokio::test]
async fn a_document_deleted_while_it_is_ingested_stays_deleted() {
    // Small chunks make ingestion long enough to delete in the middle of it.
    let app = spawn_app_with(
        |c| {
            c.documents.chunk_chars = 200;
            c.documents.chunk_overlap = 20;
        },
        axum::Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;
    let sentence = "Waves fold over the sand while a marker buoy keeps time. ";
    let text = sentence.repeat(40_000); // ~2.3 MB
    let r = app.upload(&ada.access, "big.txt", text.as_bytes()).await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    let id = body["document_id"].as_str().unwrap().to_string();
    let job = body["job_id"].as_str().unwrap().to_string();

    eventually("the ingestion to start", || async {
        let job: Value = app.get_json(&format!("/jobs/{job}"), &ada.access).await;
        assert_ne!(job["status"], "completed", "ingested before the delete");
        (job["status"] == "running").then_some(())
    })
    .await;
    let r = app
        .send(
            Method::DELETE,
            &format!("/documents/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);

    // Whatever the ingestion was doing, it ends without bringing it back.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            let job: Value = app.get_json(&format!("/jobs/{job}"), &ada.access).await;
            if matches!(job["status"].as_str(), Some("completed" | "failed")) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the ingestion job never ended");
    let r = app.get_as(&format!("/documents/{id}"), &ada.access).await;
    assert_eq!(r.status(), 404, "the deleted document came back");
    let r = app
        .get_as(&format!("/documents/{id}/chunks"), &ada.access)
        .await;
    assert_eq!(r.status(), 404);
    let hits: Value = app.get_json("/documents/search?q=buoy", &ada.access).await;
    assert_eq!(hits, json!([]), "the deleted document is still searchable");
    let list: Value = app.get_json("/documents", &ada.access).await;
    assert_eq!(list["total"], 0);
}

fn form_urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
