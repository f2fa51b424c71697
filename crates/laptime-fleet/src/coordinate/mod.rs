//! One query over many indexers (the fleet's read side). Each indexer's store answers a query up
//! to its mergeable [`Partial`](laptime_query::query::Partial); a coordinator asks all of them at
//! once, merges what arrives and finishes it into the answer one store holding every event would
//! give, saying which indexers the answer covers.
//!
//! - [`request`]: a query on the wire (JSON in the shape the TypeScript layer already builds),
//!   decoded with errors naming the bad part.
//! - [`indexer`]: the indexer's read server, `POST /v1/partial` -> the partial's checksummed bytes.
//! - [`fanout`]: the [`Coordinator`]: concurrent requests with a timeout per indexer, checks,
//!   merge, finish, and the [`Coverage`] ("2 of 3 indexers answered", and why not).
//! - [`analysis`]: histograms, anomalies and comparisons over every indexer (`POST
//!   /v1/histogram`, `/v1/anomalies`, `/v1/compare` on the coordinator), from merged partials.
//! - [`events`]: listing events over every indexer (`POST /v1/events` on both servers), merged
//!   by their total order, with a cursor.
//! - [`server`]: the coordinator's `POST /v1/query` -> JSON rows ([`answer`]) plus coverage.
//! - [`http`]: what both servers share (token off loopback, body limits, JSON refusals).

pub mod analysis;
pub mod answer;
pub mod coverage;
pub mod error;
pub mod events;
pub mod fanout;
pub mod http;
pub mod indexer;
pub mod request;
pub mod server;

pub use coverage::{Coverage, IndexerReport, Outcome};
pub use error::Error;
pub use events::FleetEvents;
pub use fanout::{Answer, Coordinator, CoordinatorConfig};
pub use http::{ServeConfig, ServeLimits};
pub use indexer::{ReadServer, ViewSource, PARTIAL_CONTENT_TYPE};
pub use request::BadRequest;
pub use server::CoordinatorServer;
