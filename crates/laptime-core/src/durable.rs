//! Durable file-system helpers (in progress).
