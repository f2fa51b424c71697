//! What goes wrong: [`BadInput`] is a request the ingest refuses (a 4xx with the field and where),
//! [`Error`] is a server that cannot start.

use std::fmt;
use std::net::SocketAddr;

/// A refused request: the HTTP status, a message that names the field and the value, and where in
/// the body (`events[3].duration_ns`, `line 4: fields["route"]`, `resourceSpans[0]...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// HTTP status (400, 401, 413, 415, 429, ...).
    pub status: u16,
    /// Human-readable reason; starts with `at` when there is a place.
    pub message: String,
    /// The place in the request (a JSON path, an NDJSON line, a header), or "" for the request.
    pub at: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after_s: Option<u64>,
}

impl BadInput {
    /// A 400 for the value at `at`; the message is prefixed with the place.
    pub fn at(at: impl Into<String>, reason: impl fmt::Display) -> BadInput {
        let at = at.into();
        let message = if at.is_empty() {
            reason.to_string()
        } else {
            format!("{at}: {reason}")
        };
        BadInput {
            status: 400,
            message,
            at,
            retry_after_s: None,
        }
    }

    /// A refusal of the whole request with `status`.
    pub fn status(status: u16, at: impl Into<String>, message: impl Into<String>) -> BadInput {
        BadInput {
            status,
            message: message.into(),
            at: at.into(),
            retry_after_s: None,
        }
    }

    /// The same refusal, telling the client to retry after `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> BadInput {
        self.retry_after_s = Some(secs);
        self
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for BadInput {}

/// Why the ingest server did not start.
#[derive(Debug)]
pub enum Error {
    /// Bound to an address other hosts can reach without a token to check.
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A configured token that cannot be one (empty, or not printable ASCII).
    BadToken {
        /// Why.
        reason: String,
    },
    /// A limit of zero or otherwise unusable.
    BadConfig {
        /// Which setting and why.
        reason: String,
    },
    /// The listening socket could not be opened.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TokenRequired { addr } => write!(
                f,
                "laptime ingest: refusing to listen on {addr} without a token: it is not a loopback address, so other hosts could write events. Set a bearer token (clients send `Authorization: Bearer <token>`) or listen on 127.0.0.1 / [::1]"
            ),
            Error::BadToken { reason } => write!(f, "laptime ingest: bad token: {reason}"),
            Error::BadConfig { reason } => write!(f, "laptime ingest: bad configuration: {reason}"),
            Error::Bind { addr, source } => {
                write!(f, "laptime ingest: cannot listen on {addr}: {source}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A value for an error message: its JSON text, cut to `MAX_SHOWN` bytes (at a char boundary) with
/// the total length said, so a 100 KB name does not come back 100 KB long.
pub(crate) fn show(value: &serde_json::Value) -> String {
    cut(&value.to_string())
}

/// A string for an error message, quoted as JSON (so quotes and control characters are escaped
/// even before the response is serialized) and cut like [`show`].
pub(crate) fn show_str(s: &str) -> String {
    cut(&serde_json::Value::from(s).to_string())
}

const MAX_SHOWN: usize = 64;

fn cut(text: &str) -> String {
    if text.len() <= MAX_SHOWN {
        return text.to_owned();
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_char_boundary_and_quoted() {
        let long = "é".repeat(100);
        let shown = show_str(&long);
        assert!(shown.starts_with("\"éé"), "{shown}");
        assert!(shown.ends_with("... (202 bytes)"), "{shown}");
        assert_eq!(show_str("a\"b\n"), r#""a\"b\n""#);
    }
}
