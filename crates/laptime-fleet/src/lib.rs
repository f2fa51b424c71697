//! placeholder
pub mod kafka;
