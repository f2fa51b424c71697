//! Entry points for the cargo-fuzz targets in `fuzz/` (cargo feature `fuzzing`; not a stable API):
//! the storage crate's decoders and builders, and the post-mortem file builder.

pub use laptime_storage::fuzzing::*;

/// A post-mortem file whose payload (before compression) is `raw`, with valid header and checksums.
pub fn postmortem_file(raw: &[u8]) -> Vec<u8> {
    crate::postmortem::seal(raw)
}
