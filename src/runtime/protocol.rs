//! The depot ⇄ worker wire format (`runtime/PROTOCOL.md`): frames of a 4-byte big-endian
//! length then UTF-8 JSON, and the messages they carry.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Room a frame has beyond its base64 body: headers, ids, paths, the error text.
const FRAME_OVERHEAD: usize = 1 << 20;

/// The largest frame either side may send when bodies are at most `max_body` bytes: base64
/// grows a body by 4/3. A longer length prefix is a broken or hostile worker, never a reason
/// to allocate.
pub fn max_frame(max_body: usize) -> usize {
    max_body.saturating_mul(4) / 3 + 4 + FRAME_OVERHEAD
}

/// What can go wrong reading or writing frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("worker closed its socket")]
    Closed,
    #[error("frame of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// One message as a frame, ready to write.
pub fn encode(message: &ToWorker<'_>) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; 4];
    serde_json::to_writer(&mut frame, message).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = frame.len() - 4;
    let len = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Writes one encoded frame.
pub async fn write<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> Result<(), FrameError> {
    writer.write_all(frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one message; `max` bounds the frame size.
pub async fn read<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<FromWorker, FrameError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > max {
        return Err(FrameError::TooLarge(len));
    }
    let mut json = vec![0u8; len];
    match reader.read_exact(&mut json).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    serde_json::from_slice(&json).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// depot → worker.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToWorker<'a> {
    Init(&'a Init),
    Invoke(&'a Invoke),
}

/// Sent once, first: what the build holds (RUNTIME §2.6).
#[derive(Debug, Clone, Serialize)]
pub struct Init {
    pub root: PathBuf,
    pub handler_version: Option<String>,
    /// Private assets, keyed with their leading `/`.
    pub assets: BTreeMap<String, PathBuf>,
    /// Every function, keyed without the leading `/`.
    pub functions: BTreeMap<String, PathBuf>,
}

/// One invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Invoke {
    pub id: String,
    pub method: String,
    pub url: String,
    /// Lowercase names, arrival order, already stripped (RUNTIME §2.3).
    pub headers: Vec<(String, String)>,
    /// Base64.
    pub body: String,
    pub file: PathBuf,
    pub context: Context,
}

/// `context` of RUNTIME §2.4, minus what the shim adds itself.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    #[serde(rename = "PATH")]
    pub path: String,
    #[serde(rename = "DOMAIN_NAME")]
    pub domain_name: String,
    #[serde(rename = "SERVICE_SID")]
    pub service_sid: String,
    #[serde(rename = "ENVIRONMENT_SID")]
    pub environment_sid: String,
    /// Only when the Service's `include_credentials` is true.
    #[serde(rename = "ACCOUNT_SID", skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    #[serde(rename = "AUTH_TOKEN", skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    pub vars: BTreeMap<String, String>,
}

/// worker → depot.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromWorker {
    Ready,
    Log(LogLine),
    Result(Reply),
}

/// One console call.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LogLine {
    pub id: String,
    pub level: String,
    pub message: String,
}

/// An invocation's response.
#[derive(Debug, Clone, Deserialize)]
pub struct Reply {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Base64.
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_are_bounded() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let json = br#"{"type":"log","id":"RQ1","level":"warn","message":"hi"}"#;
        let mut frame = (json.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(json);
        a.write_all(&frame).await.unwrap();
        match read(&mut b, 1024).await.unwrap() {
            FromWorker::Log(line) => assert_eq!(line.level, "warn"),
            other => panic!("{other:?}"),
        }
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(
            read(&mut b, 1024).await,
            Err(FrameError::TooLarge(_))
        ));
    }

    #[tokio::test]
    async fn bad_json_and_eof_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{x}").await.unwrap();
        assert!(matches!(
            read(&mut b, 1024).await,
            Err(FrameError::Malformed(_))
        ));
        drop(a);
        assert!(matches!(read(&mut b, 1024).await, Err(FrameError::Closed)));
    }

    #[test]
    fn invoke_serialises_as_the_protocol_says() {
        let invoke = Invoke {
            id: "RQ1".into(),
            method: "GET".into(),
            url: "/a".into(),
            headers: vec![("cookie".into(), "a=1".into())],
            body: String::new(),
            file: "/f.js".into(),
            context: Context {
                path: "/a".into(),
                domain_name: "x-1234.localhost".into(),
                service_sid: "ZS1".into(),
                environment_sid: "ZE1".into(),
                account_sid: None,
                auth_token: None,
                vars: BTreeMap::new(),
            },
        };
        let message = ToWorker::Invoke(&invoke);
        let frame = encode(&message).unwrap();
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4, "the prefix is the JSON's length");
        let json: serde_json::Value = serde_json::from_slice(&frame[4..]).unwrap();
        assert_eq!(json["type"], "invoke");
        assert_eq!(json["headers"][0][1], "a=1");
        assert_eq!(json["context"]["DOMAIN_NAME"], "x-1234.localhost");
        assert!(json["context"].get("AUTH_TOKEN").is_none());
    }
}
