//! A minimal CRI client: gRPC by hand over HTTP/2 (the `h2` crate) on the
//! containerd unix socket, with the few protobuf messages encoded by hand.
//! (`k8s-cri` needs `protoc` at build time, which Debian 12 machines lack.)
//!
//! Only `runtime.v1.ImageService/PullImage` and `RemoveImage` are used; both
//! requests are `{ ImageSpec image = 1 { string image = 1 } }`.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

const PULL: &str = "/runtime.v1.ImageService/PullImage";
const REMOVE: &str = "/runtime.v1.ImageService/RemoveImage";

fn varint(mut v: usize, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).expect("7 bits") | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).expect("7 bits"));
}

/// Field 1, wire type 2 (length-delimited).
fn field1(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0a];
    varint(payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

/// `{ image: ImageSpec { image: name } }`
fn image_request(name: &str) -> Vec<u8> {
    field1(&field1(name.as_bytes()))
}

/// Reads field 1 (a string) of a message, if present.
fn read_field1_string(msg: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < msg.len() {
        let key = msg[i];
        i += 1;
        let wire = key & 7;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = *msg.get(i)?;
            i += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        match wire {
            0 => {}
            2 => {
                let data = msg.get(i..i + len)?;
                if key >> 3 == 1 {
                    return Some(String::from_utf8_lossy(data).into_owned());
                }
                i += len;
            }
            _ => return None,
        }
    }
    None
}

/// gRPC percent-decoding of `grpc-message`.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn unary(socket: &Path, method: &str, msg: Vec<u8>) -> Result<Vec<u8>, String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| format!("connect {}: {e}", socket.display()))?;
    let (client, conn) = h2::client::handshake(stream)
        .await
        .map_err(|e| format!("h2 handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.map_err(|e| format!("h2 ready: {e}"))?;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| e.to_string())?;
    let (resp, mut send) = client
        .send_request(req, false)
        .map_err(|e| format!("send: {e}"))?;
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(msg.len()).expect("small").to_be_bytes());
    framed.extend_from_slice(&msg);
    send.send_data(Bytes::from(framed), true)
        .map_err(|e| format!("send body: {e}"))?;
    let resp = resp.await.map_err(|e| format!("response: {e}"))?;
    let (parts, mut body) = resp.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| format!("body: {e}"))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body
        .trailers()
        .await
        .map_err(|e| format!("trailers: {e}"))?
        .unwrap_or_default();
    // A "trailers-only" error puts grpc-status into the headers.
    let get = |name: &str| {
        trailers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = get("grpc-status").unwrap_or_else(|| "missing".into());
    if status != "0" {
        let message = get("grpc-message")
            .map(|m| percent_decode(&m))
            .unwrap_or_default();
        return Err(format!("grpc status {status}: {message}"));
    }
    if data.len() < 5 {
        return Ok(Vec::new());
    }
    Ok(data[5..].to_vec())
}

fn block_on<T>(limit: Duration, f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(limit, f)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {limit:?}")))
    })
}

/// CRI `PullImage`; returns the image reference (`sha256:…`) or the error
/// message containerd returned.
pub fn pull(socket: &Path, image: &str) -> Result<String, String> {
    block_on(Duration::from_secs(60), async {
        let resp = unary(socket, PULL, image_request(image)).await?;
        Ok(read_field1_string(&resp).unwrap_or_default())
    })
}

/// CRI `RemoveImage` (succeeds for an absent image too).
pub fn remove(socket: &Path, image: &str) -> Result<(), String> {
    block_on(Duration::from_secs(30), async {
        unary(socket, REMOVE, image_request(image)).await.map(drop)
    })
}
