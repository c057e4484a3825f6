//! A tokio-tungstenite client for the WebSocket tests.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct WsClient {
    pub socket: Socket,
    /// The `connected` message.
    pub hello: Value,
}

impl TestApp {
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/api/v1/ws?token={token}", self.addr)
    }

    /// Opens a socket as `token` and reads its `connected` message.
    pub async fn ws(&self, token: &str) -> WsClient {
        let (socket, response) = tokio_tungstenite::connect_async(self.ws_url(token))
            .await
            .expect("websocket upgrade");
        assert_eq!(response.status(), 101);
        let mut client = WsClient {
            socket,
            hello: Value::Null,
        };
        client.hello = client.next().await;
        assert_eq!(client.hello["type"], "connected", "{}", client.hello);
        client
    }

    /// The HTTP status a refused upgrade answered.
    pub async fn ws_refused(&self, url: &str) -> u16 {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("upgrade accepted"),
        }
    }
}

impl WsClient {
    pub async fn send(&mut self, value: Value) {
        self.socket
            .send(Message::text(value.to_string()))
            .await
            .unwrap();
    }

    /// Sends `value`; an error once the server has closed the socket.
    pub async fn send_checked(
        &mut self,
        value: Value,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.socket.send(Message::text(value.to_string())).await
    }

    /// The next JSON message, or `Err` with the close code and reason once
    /// the socket closes (`None` if it ended without a close frame).
    pub async fn next_or_close(&mut self) -> Result<Value, Option<(u16, String)>> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("no message or close within 10 s");
            match frame {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// Sends `text` as it is.
    pub async fn send_raw(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next JSON message (control frames skipped), within 10 s.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("no message within 10 s")
                .expect("socket ended")
                .expect("socket error");
            match frame {
                Message::Text(text) => {
                    if let Err(e) = serde_json::from_str::<NoRepeatedKeys>(&text) {
                        panic!("{e}: {text}");
                    }
                    return serde_json::from_str(&text).unwrap();
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next message of type `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let msg = self.next().await;
            if msg["type"] == kind {
                return msg;
            }
        }
    }

    /// Subscribes and returns the `subscribed` (or `error`) reply: the
    /// first message echoing the request's `ref` (a `presence` of a room
    /// joined earlier may arrive in between, and is skipped).
    pub async fn subscribe(&mut self, channel: &str) -> Value {
        self.send(json!({"type": "subscribe", "channel": channel, "ref": channel}))
            .await;
        loop {
            let msg = self.next().await;
            if msg["ref"] == channel {
                return msg;
            }
        }
    }

    /// Reads (discarding messages) until the server's close frame.
    pub async fn close_frame(&mut self) -> Option<CloseFrame> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("no close within 10 s");
            match frame {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
                None => return None,
            }
        }
    }

    /// A ping round trip: everything the server sent before it has arrived.
    pub async fn sync(&mut self) -> Vec<Value> {
        self.send(json!({"type": "ping", "ref": "sync"})).await;
        let mut before = Vec::new();
        loop {
            let msg = self.next().await;
            if msg["type"] == "pong" && msg["ref"] == "sync" {
                return before;
            }
            before.push(msg);
        }
    }
}

/// Parses any JSON and fails on an object that names a key twice (which
/// `serde_json::Value` would silently collapse).
struct NoRepeatedKeys;

impl<'de> serde::Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoRepeatedKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoRepeatedKeys {
    type Value = NoRepeatedKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("key {key:?} repeated")));
            }
            map.next_value::<NoRepeatedKeys>()?;
        }
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoRepeatedKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
}
