//! Shipping events between stores (the fleet, ARCHITECTURE.md "The fleet"): the message format
//! that carries sealed pages from a source to an indexer, and a store's feeds: which sealed pages
//! each destination has not been sent yet.

mod feed;
mod message;
mod receive;

pub use feed::{Feed, Shipment};

pub use message::{
    decode_message, encode_batch_message, encode_message, MessageError, ShipMessage, ShippedPage,
    MAX_SOURCE_BYTES,
};
