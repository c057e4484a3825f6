//! WebSocket protocol edge cases (the Autobahn categories we can check
//! here), heartbeat, shutdown and slow consumers.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use crate::helpers::{spawn_app, spawn_app_with};

fn code(frame: &Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> u16 {
    frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(0)
}

#[tokio::test]
async fn a_fragmented_text_message_is_reassembled() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    let text = json!({"type": "ping", "ref": "fragments"}).to_string();
    let (a, b) = text.split_at(7);
    let first = Frame::message(a.as_bytes().to_vec(), OpCode::Data(Data::Text), false);
    let rest = Frame::message(b.as_bytes().to_vec(), OpCode::Data(Data::Continue), true);
    ws.socket.send(Message::Frame(first)).await.unwrap();
    ws.socket.send(Message::Frame(rest)).await.unwrap();
    assert_eq!(ws.next().await, json!({"type": "pong", "ref": "fragments"}));
}

#[tokio::test]
async fn a_binary_frame_gets_an_error_and_a_ping_frame_a_pong() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    ws.socket
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    let e = ws.next().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("BAD_REQUEST"))
    );

    ws.socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Message::Pong(payload) = ws.socket.next().await.unwrap().unwrap() {
                return payload;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&pong[..], b"are you there");
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    ws.socket.send(Message::Frame(bad)).await.unwrap();
    assert_eq!(code(&ws.close_frame().await), 1007);
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let app = spawn_app_with(|c| c.ws.max_frame_bytes = 1024, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    // Just under the limit is fine.
    let fits = json!({"type": "ping", "ref": "x".repeat(900)}).to_string();
    ws.send_raw(&fits).await;
    assert_eq!(ws.next().await["type"], "pong");
    let big = json!({"type": "ping", "ref": "x".repeat(2000)}).to_string();
    ws.send_raw(&big).await;
    assert_eq!(code(&ws.close_frame().await), 1009);
}

#[tokio::test]
async fn a_client_close_gets_the_close_handshake_back() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    ws.socket
        .send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            },
        )))
        .await
        .unwrap();
    let reply = ws.close_frame().await;
    assert_eq!(code(&reply), 1000);
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut a = app.ws(&ada.access).await;
    let mut b = app.ws(&ada.access).await;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(code(&a.close_frame().await), 1001);
    assert_eq!(code(&b.close_frame().await), 1001);
    stopping.await.unwrap();
}

/// A client that never answers pings: a raw socket that does the upgrade by
/// hand and then only reads.
#[tokio::test]
async fn a_silent_client_is_pinged_and_then_closed() {
    let app = spawn_app_with(
        |c| {
            c.ws.ping_interval_s = 1;
            c.ws.pong_timeout_s = 2;
        },
        axum::Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /api/v1/ws?token={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ada.access, app.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let (pings, close) = tokio::time::timeout(Duration::from_secs(20), async {
        let mut pings = 0;
        let mut chunk = [0u8; 4096];
        loop {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed without a close frame");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(buf.starts_with(b"HTTP/1.1 101"));
                buf.drain(..end + 4);
            }
            while let Some((opcode, payload, used)) = server_frame(&buf) {
                buf.drain(..used);
                match opcode {
                    0x9 => pings += 1,
                    0x8 => return (pings, payload),
                    _ => {}
                }
            }
        }
    })
    .await
    .expect("no close within 20 s");
    assert!(pings >= 1, "closed without pinging first");
    let code = u16::from_be_bytes([close[0], close[1]]);
    assert_eq!(code, 1001);
    assert_eq!(&close[2..], b"pong timeout");
}

/// Parses one unmasked server frame: opcode, payload, bytes used.
fn server_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < head + len {
        return None;
    }
    Some((opcode, buf[head..head + len].to_vec(), head + len))
}
