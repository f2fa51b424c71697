//! Shipping events between stores (the fleet, ARCHITECTURE.md "The fleet"): the message format
//! that carries sealed pages from a source to an indexer.

mod message;
mod receive;

pub use message::{
    decode_message, encode_batch_message, encode_message, MessageError, ShipMessage, ShippedPage,
    MAX_SOURCE_BYTES,
};
