//! The one wall clock of laptime: every "now" (event start times taken by the store, retention
//! cut-offs, relative filter bounds, post-mortem file names) is read here.

/// Current wall-clock time in nanoseconds since the Unix epoch (0 before 1970, saturating far in
/// the future).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
