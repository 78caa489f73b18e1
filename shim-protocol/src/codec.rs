//! Framing and decoding: newline-delimited JSON, one message per line, lines bounded by
//! [`MAX_LINE`]. The decoder never panics and says precisely what is wrong with a line.

use std::fmt;
use std::io::{self, BufRead};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::messages::{FromShim, MAX_LINE, ToShim};

/// Why a line is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The line is not JSON (`garbage`, a truncated object).
    NotJson(String),
    /// The line is JSON, but not an object with a string `"type"`.
    NoType,
    /// The `"type"` is not one the receiver knows.
    UnknownType(String),
    /// The message has a known type but the wrong fields or field types.
    WrongShape {
        /// The message type.
        ty: String,
        /// What serde found wrong.
        detail: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotUtf8 => f.write_str("the line is not UTF-8"),
            DecodeError::NotJson(e) => write!(f, "the line is not JSON ({e})"),
            DecodeError::NoType => {
                f.write_str("the line is not a JSON object with a string \"type\"")
            }
            DecodeError::UnknownType(t) => write!(f, "unknown message type \"{t}\""),
            DecodeError::WrongShape { ty, detail } => {
                write!(f, "a \"{ty}\" message of the wrong shape ({detail})")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

const SHIM_TYPES: &[&str] = &["hello", "ready", "ret", "kcall"];
const HARNESS_TYPES: &[&str] = &["hello", "case", "call", "kret", "bye"];

fn decode<T: DeserializeOwned>(line: &[u8], known: &[&str]) -> Result<T, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let ty = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or(DecodeError::NoType)?
        .to_string();
    if !known.contains(&ty.as_str()) {
        return Err(DecodeError::UnknownType(ty));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::WrongShape {
        ty,
        detail: e.to_string(),
    })
}

/// Decodes one line the shim sent.
pub fn decode_from_shim(line: &[u8]) -> Result<FromShim, DecodeError> {
    decode(line, SHIM_TYPES)
}

/// Decodes one line the harness sent.
pub fn decode_to_shim(line: &[u8]) -> Result<ToShim, DecodeError> {
    decode(line, HARNESS_TYPES)
}

/// Encodes a message as one line, newline included.
pub fn encode<T: Serialize>(msg: &T) -> String {
    let mut line = serde_json::to_string(msg).unwrap_or_else(|_| "{}".to_string());
    line.push('\n');
    line
}

/// What reading one line gave.
#[derive(Debug)]
pub enum Line {
    /// A complete line, newline stripped.
    Complete(Vec<u8>),
    /// End of file after a partial line (the writer stopped in the middle of a message).
    Truncated(Vec<u8>),
    /// End of file at a line boundary.
    Eof,
    /// The line grew past the limit; reading stopped there and the rest of the stream is
    /// unusable.
    Oversized,
}

/// Reads lines of at most `limit` bytes (newline included), never buffering more than that.
pub struct LineReader<R> {
    inner: R,
    limit: usize,
}

impl<R: BufRead> LineReader<R> {
    /// A reader with the protocol's [`MAX_LINE`] limit.
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE)
    }

    /// A reader with a custom limit (tests).
    pub fn with_limit(inner: R, limit: usize) -> Self {
        LineReader { inner, limit }
    }

    /// The next line.
    pub fn next_line(&mut self) -> io::Result<Line> {
        let mut line = Vec::new();
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(if line.is_empty() {
                    Line::Eof
                } else {
                    Line::Truncated(line)
                });
            }
            let room = self.limit - line.len();
            match buf.iter().take(room).position(|b| *b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&buf[..i]);
                    self.inner.consume(i + 1);
                    return Ok(Line::Complete(line));
                }
                None => {
                    let n = buf.len().min(room);
                    line.extend_from_slice(&buf[..n]);
                    self.inner.consume(n);
                    if line.len() >= self.limit {
                        return Ok(Line::Oversized);
                    }
                }
            }
        }
    }
}

/// Decodes arbitrary bytes as the harness does, line by line, and never panics: the entry
/// point of the fuzz target and of the malformed-input test. Returns how many lines decoded.
pub fn fuzz_decode(data: &[u8]) -> usize {
    let mut reader = LineReader::with_limit(data, 4096);
    let mut ok = 0;
    while let Ok(line) = reader.next_line() {
        match line {
            Line::Complete(l) => {
                if decode_from_shim(&l).is_ok() {
                    ok += 1;
                }
                let _ = decode_to_shim(&l);
            }
            Line::Truncated(l) => {
                let _ = decode_from_shim(&l);
                break;
            }
            Line::Eof | Line::Oversized => break,
        }
    }
    ok
}
