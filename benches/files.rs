//! The files bench, against the chorus binary (its own process, so its RSS
//! is its own): one 100 MiB file uploaded through the local store's signed
//! URL and downloaded again. Prints MiB/s each way and the server's peak
//! RSS growth during the upload, which must stay under 32 MiB (the upload
//! is streamed to disk, never held whole).
//!
//! Run: `cargo bench --bench files` (CHORUS_BENCH_FILE_MIB sets the size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

const MIB: usize = 1 << 20;
/// The RSS growth the upload must stay under.
const RSS_TARGET_MIB: u64 = 32;

/// The bench file's `i`th MiB: deterministic, so the download can be checked
/// without keeping a copy.
fn block(i: usize) -> Vec<u8> {
    (0..MIB).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mib: usize = std::env::var("CHORUS_BENCH_FILE_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    rt.block_on(async move {
        let server = load::Process::start(&[("CHORUS__STORE__DURABILITY", "sync".into())]);
        let client = load::client();
        let token = load::sign_up(&client, &server.base).await;
        let api = format!("{}/api/v1", server.base);
        println!("files bench: server pid {}, {mib} MiB through the local store", server.child.id());
        let size = mib * MIB;
        let r: Value = client
            .post(format!("{api}/files/upload-url"))
            .bearer_auth(&token)
            .json(&json!({"filename": "bench.bin", "content_type": "application/octet-stream", "size": size}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["file_id"].as_str().unwrap().to_string();
        let url = r["upload_url"].as_str().unwrap().to_string();

        // Peak RSS, sampled every 5 ms while the upload runs.
        let before = server.rss_kib();
        let peak = Arc::new(AtomicU64::new(before));
        let running = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, running, pid) = (peak.clone(), running.clone(), server.child.id());
            tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    peak.fetch_max(load::rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let body = futures::stream::iter(0..mib).map(|i| Ok::<_, std::io::Error>(block(i)));
        let started = Instant::now();
        let put = client
            .put(&url)
            .header("content-length", size)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .unwrap();
        let up = started.elapsed();
        running.store(false, Ordering::Relaxed);
        sampler.await.unwrap();
        assert_eq!(put.status(), 204, "upload");
        let confirmed = client
            .post(format!("{api}/files/confirm"))
            .bearer_auth(&token)
            .json(&json!({"file_id": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(confirmed.status(), 200, "confirm");
        let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;
        println!(
            "    upload   {:>8.1} MiB/s  ({mib} MiB in {:.2} s)",
            mib as f64 / up.as_secs_f64(),
            up.as_secs_f64()
        );

        let link: Value = client
            .get(format!("{api}/files/{id}/download-url"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let started = Instant::now();
        let got = client
            .get(link["download_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "download");
        let mut stream = got.bytes_stream();
        let (mut seen, mut pending) = (0usize, Vec::with_capacity(2 * MIB));
        while let Some(chunk) = stream.next().await {
            pending.extend_from_slice(&chunk.unwrap());
            while pending.len() >= MIB {
                assert!(pending[..MIB] == block(seen / MIB)[..], "byte mismatch in MiB {}", seen / MIB);
                pending.drain(..MIB);
                seen += MIB;
            }
        }
        let down = started.elapsed();
        assert_eq!(seen + pending.len(), size, "downloaded size");
        println!(
            "    download {:>8.1} MiB/s  ({mib} MiB in {:.2} s, bytes checked)",
            mib as f64 / down.as_secs_f64(),
            down.as_secs_f64()
        );
        let verdict = if growth_mib < RSS_TARGET_MIB { "PASS" } else { "FAIL" };
        println!(
            "    server RSS {} MiB before the upload, peak growth {growth_mib} MiB during it (target < {RSS_TARGET_MIB} MiB): {verdict}",
            before / 1024
        );
    });
}
