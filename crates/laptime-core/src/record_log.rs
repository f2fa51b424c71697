//! Framed, checksummed append-only record files (in progress).
