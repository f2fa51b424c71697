//! Why a read server or a coordinator does not start, and why a coordinated query has no answer.

use std::net::SocketAddr;

use super::coverage::Coverage;
use super::request::BadRequest;

/// What goes wrong in [`super`] outside a single indexer (whose failures are in the
/// [`Coverage`], not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listening on an address other hosts can reach without a token to check.
    #[error("laptime {role}: refusing to listen on {addr} without a token: it is not a loopback address, so other hosts could read the store. Set a bearer token (clients send `Authorization: Bearer <token>`) or listen on 127.0.0.1 / [::1]")]
    TokenRequired {
        /// `indexer read server` or `coordinator`.
        role: &'static str,
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A setting that cannot work (a token with spaces, no indexers, a zero limit, a bad URL).
    #[error("laptime {role}: bad configuration: {reason}")]
    BadConfig {
        /// `indexer read server` or `coordinator`.
        role: &'static str,
        /// Which setting and why.
        reason: String,
    },
    /// The listening socket could not be opened.
    #[error("laptime {role}: cannot listen on {addr}: {source}")]
    Bind {
        /// `indexer read server` or `coordinator`.
        role: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The query cannot be asked (not valid, or not expressible on the wire).
    #[error("bad query: {0}")]
    BadQuery(BadRequest),
    /// No indexer gave a usable answer; the coverage says why for each.
    #[error("no answer: {0}")]
    NoAnswer(Coverage),
    /// Merging or finishing the partials failed (they were checked to answer the query, so this
    /// is a bug, reported rather than hidden).
    #[error("merging the indexers' answers failed: {0}")]
    Merge(laptime_storage::Error),
}
