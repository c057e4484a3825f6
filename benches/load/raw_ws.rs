//! A bare WebSocket client for the fan-out bench: the handshake by hand and
//! frames parsed in place, so the load generator, which shares the cores
//! with the server, spends as little CPU per delivered message as it can.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects from `source`, upgrades with `token`, and returns the socket
    /// with whatever followed the handshake still buffered.
    pub async fn connect(server: SocketAddr, source: SocketAddr, token: &str) -> RawWs {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(source).unwrap();
        let mut stream = socket.connect(server).await.unwrap();
        let request = format!(
            "GET /api/v1/ws?token={token} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(buf.starts_with(b"HTTP/1.1 101"), "upgrade refused");
                buf.drain(..end + 4);
                return RawWs { stream, buf };
            }
        }
    }

    /// Sends one text frame, masked with a zero key (valid, and no copy).
    pub async fn send_text(&mut self, text: &str) {
        let len = text.len();
        let mut frame = Vec::with_capacity(len + 14);
        frame.push(0x81);
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(text.as_bytes());
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Calls `f` with each text frame's payload until it answers false or
    /// the socket ends.
    pub async fn each_text(&mut self, mut f: impl FnMut(&[u8]) -> bool) {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let mut start = 0;
            while let Some((opcode, payload, used)) = frame(&self.buf[start..]) {
                let payload = start + payload.0..start + payload.1;
                start += used;
                match opcode {
                    0x1 if !f(&self.buf[payload]) => return,
                    0x8 => return,
                    _ => {}
                }
            }
            self.buf.drain(..start);
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// One unmasked server frame at the start of `buf`: opcode, payload range,
/// bytes used.
fn frame(buf: &[u8]) -> Option<(u8, (usize, usize), usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    (buf.len() >= head + len).then_some((buf[0] & 0x0f, (head, head + len), head + len))
}
