//! Latency sketch (in progress).
