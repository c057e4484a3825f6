//! The jobs bench, against the chorus binary with durability `sync`:
//! 10,000 `delay` jobs with `seconds: 0` created by 64 concurrent clients;
//! completed jobs/s (first create to last completion, seen as `job.update`
//! over a WebSocket) and p99 enqueue-to-start latency (`started_at` minus
//! `created_at`); then document ingestion MB/s for a 5 MB text.
//!
//! Run: `cargo bench --bench jobs` (CHORUS_BENCH_JOBS sets the count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod load;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn main() {
    load::raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n: usize = std::env::var("CHORUS_BENCH_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    rt.block_on(async move {
        let server = load::Process::start(&[
            ("CHORUS__RATE_LIMITS__DEFAULT", "1000000000".into()),
            ("CHORUS__STORE__DURABILITY", "sync".into()),
        ]);
        let client = load::client();
        let token = load::sign_up(&client, &server.base).await;
        println!(
            "jobs bench: server pid {}, durability sync",
            server.child.id()
        );
        run_delay_jobs(&client, &server, &token, n).await;
        ingest_document(&client, &format!("{}/api/v1", server.base), &token).await;
    });
}

async fn run_delay_jobs(client: &reqwest::Client, server: &load::Process, token: &str, n: usize) {
    println!("{n} delay jobs (seconds: 0) from 64 clients");
    let watcher = watch_completions(&server.base, token, n).await;
    let api = format!("{}/api/v1", server.base);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let cpu_before = (
        load::cpu_secs(server.child.id()),
        load::cpu_secs(std::process::id()),
    );
    let creators: Vec<_> = (0..64)
        .map(|_| {
            let (client, api, token, next) =
                (client.clone(), api.clone(), token.to_string(), next.clone());
            tokio::spawn(async move {
                let body = json!({"job_type": "delay", "payload": {"seconds": 0}});
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let r = client
                        .post(format!("{api}/jobs"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for c in creators {
        c.await.unwrap();
    }
    let created = started.elapsed();
    let completed = tokio::time::timeout(Duration::from_secs(300), watcher)
        .await
        .expect("jobs did not all complete within 300 s")
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    load::print_cpu(server.child.id(), cpu_before, took);
    let per_sec = completed as f64 / took;
    println!(
        "    created in {:.1} s ({:.0}/s); {completed} completed in {took:.1} s: {per_sec:.0} jobs/s",
        created.as_secs_f64(),
        n as f64 / created.as_secs_f64()
    );
    let latency = enqueue_to_start(client, &api, token).await;
    println!(
        "    enqueue-to-start p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        latency.value_at_quantile(0.5) as f64,
        latency.value_at_quantile(0.99) as f64,
        latency.max() as f64
    );
    println!(
        "    target >= 2,000 jobs/s: {}",
        if per_sec >= 2000.0 { "PASS" } else { "FAIL" }
    );
}

/// Uploads a 5 MB text document and times it until it is searchable.
async fn ingest_document(client: &reqwest::Client, api: &str, token: &str) {
    let sentence = "The quick brown fox jumps over the lazy dog near the riverbank at dawn. ";
    let paragraph = sentence.repeat(12);
    let mut text = String::with_capacity(5 << 20);
    let mut i = 0;
    while text.len() < 5 << 20 {
        text.push_str(&format!("Section {i}. {paragraph}\n\n"));
        i += 1;
    }
    let mb = text.len() as f64 / (1 << 20) as f64;
    let started = Instant::now();
    let r: Value = client
        .post(format!("{api}/documents"))
        .bearer_auth(token)
        .json(&json!({"title": "five megabytes", "text": text}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["document_id"].as_str().unwrap().to_string();
    let doc = loop {
        let doc: Value = client
            .get(format!("{api}/documents/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if doc["status"] != "processing" {
            break doc;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed().as_secs_f64();
    println!(
        "document ingestion: {mb:.1} MB -> {} ({} chunks) in {took:.2} s: {:.1} MB/s (upload, chunking, store and index)",
        doc["status"],
        doc["chunk_count"],
        mb / took
    );
}

/// Counts `job.update`s with status `completed` until `n` distinct jobs completed.
async fn watch_completions(base: &str, token: &str, n: usize) -> tokio::task::JoinHandle<usize> {
    let url = format!(
        "{}/api/v1/ws?token={token}",
        base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::spawn(async move {
        let mut done = HashSet::with_capacity(n);
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            if !text.contains("\"completed\"") {
                continue;
            }
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "job.update" {
                done.insert(v["job"]["id"].as_str().unwrap_or_default().to_string());
                if done.len() >= n {
                    break;
                }
            }
        }
        done.len()
    })
}

/// `started_at - created_at` of every job, in ms.
async fn enqueue_to_start(client: &reqwest::Client, api: &str, token: &str) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut skip = 0;
    loop {
        let page: Value = client
            .get(format!("{api}/jobs?skip={skip}&limit=100"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        for job in items {
            let at = |k: &str| {
                chrono::DateTime::parse_from_rfc3339(job[k].as_str().unwrap_or_default())
                    .map(|t| t.timestamp_millis())
            };
            if let (Ok(created), Ok(started)) = (at("created_at"), at("started_at")) {
                hist.record((started - created).max(0) as u64).unwrap();
            }
        }
        skip += items.len();
        if items.is_empty() || skip >= page["total"].as_u64().unwrap_or(0) as usize {
            return hist;
        }
    }
}
