//! Files on an S3-protocol store: a real `moto_server` (path-style, any
//! key accepted) started for the test. Its binary comes from
//! `CHORUS_MOTO_SERVER` (or `target/moto-venv/bin/moto_server`, which
//! `.ci/run` makes); without one the test says so and is skipped.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use chorus::config::{FileStoreKind, Secret};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{eventually, spawn_app_with};

fn moto_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CHORUS_MOTO_SERVER") {
        // Asked for by name (CI): missing is a failure, not a skip.
        assert!(
            PathBuf::from(&path).is_file(),
            "CHORUS_MOTO_SERVER={path} is no file"
        );
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server");
    venv.is_file().then_some(venv)
}

/// A running `moto_server`, stopped when dropped.
struct Moto {
    endpoint: String,
    _child: tokio::process::Child,
}

async fn start_moto(binary: PathBuf) -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // moto takes a few seconds to import its services.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("{endpoint}/moto-api/"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Moto {
        endpoint,
        _child: child,
    }
}

#[tokio::test]
async fn a_file_goes_up_and_down_through_s3_presigned_urls() {
    let Some(binary) = moto_binary() else {
        println!(
            "SKIPPED files_s3: no moto_server (set CHORUS_MOTO_SERVER, or: python3 -m venv target/moto-venv && target/moto-venv/bin/pip install 'moto[server]')"
        );
        return;
    };
    let moto = start_moto(binary).await;
    let plain = reqwest::Client::new();
    // moto accepts any credentials: an unsigned request makes the bucket.
    let made = plain
        .put(format!("{}/chorus-files", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(
        made.status().is_success(),
        "create bucket: {}",
        made.status()
    );

    let endpoint = moto.endpoint.clone();
    let app = spawn_app_with(
        move |c| {
            c.files.store = FileStoreKind::S3;
            c.files.s3.bucket = "chorus-files".into();
            c.files.s3.endpoint = endpoint;
            c.files.s3.path_style = true;
            c.files.s3.access_key_id = Some(Secret::new("testing"));
            c.files.s3.secret_access_key = Some(Secret::new("testing"));
        },
        Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let r = app
        .post_json(
            "/files/upload-url",
            Some(&ada.access),
            json!({"filename": "a.bin", "content_type": "application/octet-stream", "size": bytes.len()}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let id = body["file_id"].as_str().unwrap().to_string();
    let upload = body["upload_url"].as_str().unwrap().to_string();
    let object = format!("{}/chorus-files/{}/{id}", moto.endpoint, ada.user_id);
    assert!(
        upload.starts_with(&object),
        "the bucket's own URL: {upload}"
    );
    assert!(upload.contains("X-Amz-Signature="), "{upload}");

    let confirm = json!({"file_id": id});
    let r = app
        .post_json("/files/confirm", Some(&ada.access), confirm.clone())
        .await;
    assert_eq!(r.status(), 409, "nothing uploaded yet");
    let put = plain.put(&upload).body(bytes.clone()).send().await.unwrap();
    assert!(put.status().is_success(), "PUT to S3: {}", put.status());
    let r = app
        .post_json("/files/confirm", Some(&ada.access), confirm)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "uploaded");

    let link = app
        .get_json(&format!("/files/{id}/download-url"), &ada.access)
        .await;
    let download = link["download_url"].as_str().unwrap();
    assert!(download.starts_with(&object), "{download}");
    let got = plain.get(download).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // chorus's own content route serves nothing for an S3 store.
    let own = app.url(&format!(
        "/api/v1/files/{id}/content?expires=9999999999&sig=00"
    ));
    assert_eq!(plain.get(own).send().await.unwrap().status(), 404);

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
    eventually("the object to leave the bucket", || async {
        let status = plain.get(&object).send().await.unwrap().status();
        (status == 404).then_some(())
    })
    .await;
}
