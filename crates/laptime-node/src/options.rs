//! `NativeOptions` (camelCase, milliseconds, plain numbers) to [`laptime_core::Options`].
//!
//! This module only checks what the JS shape adds (a number that must be a whole count, a mode
//! string, a timing option given for a mode it does not configure); the ranges of every option are
//! the core's `Options::validate`. Every error names the option as JS spells it.

use std::time::Duration;

use laptime_core::{Options, Overflow, SyncPolicy};
use napi_derive::napi;

/// Store options; every field is optional and defaults to the core's default.
#[napi(object)]
#[derive(Default)]
pub struct NativeOptions {
    /// Durability policy: never fsync, group commit every `syncIntervalMs`, or fsync every write.
    #[napi(ts_type = "'none' | 'interval' | 'always'")]
    pub sync: Option<String>,
    /// Group-commit interval of `sync: 'interval'` (the default mode).
    pub sync_interval_ms: Option<f64>,
    /// Most batches queued between producers and the writer.
    pub ring_batches: Option<f64>,
    /// Most bytes of queued batches.
    pub ring_bytes: Option<f64>,
    /// What `append` does when the ring is full: drop and count, or wait up to `blockTimeoutMs`.
    #[napi(ts_type = "'drop' | 'block'")]
    pub overflow: Option<String>,
    /// Longest wait per batch of `overflow: 'block'`.
    pub block_timeout_ms: Option<f64>,
    /// Events per page before it is sealed.
    pub page_rows: Option<f64>,
    /// A page that is not full is sealed after this long.
    pub page_max_age_ms: Option<f64>,
    /// A segment is sealed once it holds this many bytes.
    pub segment_max_bytes: Option<f64>,
    /// A segment is sealed once it is this old.
    pub segment_max_age_ms: Option<f64>,
    /// Memory for decoded pages held by readers.
    pub bufferpool_bytes: Option<f64>,
    /// Drop sealed segments whose newest event is older than this.
    pub retention_max_age_ms: Option<f64>,
    /// Drop the oldest segments while the store's partition holds more than this many bytes.
    pub retention_max_bytes: Option<f64>,
    /// Writer threads, each with a partition of its own (1 to 16): more than one helps when the
    /// app's threads produce events faster than one writer stores them.
    pub writers: Option<f64>,
}

/// The core options these JS options describe.
pub(crate) fn to_core(js: &NativeOptions) -> napi::Result<Options> {
    let defaults = Options::default();
    let mut o = Options {
        sync: sync_policy(js, defaults.sync)?,
        overflow: overflow(js, defaults.overflow)?,
        ..defaults
    };
    set(&mut o.ring_batches, "ringBatches", js.ring_batches, whole)?;
    set(&mut o.writers, "writers", js.writers, whole)?;
    set(&mut o.ring_bytes, "ringBytes", js.ring_bytes, whole)?;
    set(&mut o.page_rows, "pageRows", js.page_rows, whole)?;
    set(
        &mut o.page_max_age,
        "pageMaxAgeMs",
        js.page_max_age_ms,
        millis,
    )?;
    set(
        &mut o.segment_max_bytes,
        "segmentMaxBytes",
        js.segment_max_bytes,
        whole,
    )?;
    set(
        &mut o.segment_max_age,
        "segmentMaxAgeMs",
        js.segment_max_age_ms,
        millis,
    )?;
    set(
        &mut o.bufferpool_bytes,
        "bufferpoolBytes",
        js.bufferpool_bytes,
        whole,
    )?;
    if let Some(v) = js.retention_max_age_ms {
        o.retention.max_age = Some(millis("retentionMaxAgeMs", v)?);
    }
    if let Some(v) = js.retention_max_bytes {
        o.retention.max_bytes = Some(whole("retentionMaxBytes", v)?);
    }
    Ok(o)
}

fn invalid(option: &str, reason: impl std::fmt::Display) -> napi::Error {
    crate::errors::invalid_option(option, reason)
}

fn set<T>(
    slot: &mut T,
    option: &str,
    value: Option<f64>,
    convert: fn(&str, f64) -> napi::Result<T>,
) -> napi::Result<()> {
    if let Some(v) = value {
        *slot = convert(option, v)?;
    }
    Ok(())
}

/// A whole, non-negative number that JS represents exactly (at most 2^53).
fn whole<T: TryFrom<u64>>(option: &str, v: f64) -> napi::Result<T> {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    if !(0.0..=MAX_EXACT).contains(&v) || v.fract() != 0.0 {
        return Err(invalid(
            option,
            format!("must be a whole number >= 0, got {v}"),
        ));
    }
    T::try_from(v as u64).map_err(|_| invalid(option, format!("{v} is too large")))
}

/// A non-negative, finite number of milliseconds (fractions allowed).
fn millis(option: &str, v: f64) -> napi::Result<Duration> {
    Duration::try_from_secs_f64(v / 1000.0).map_err(|_| {
        invalid(
            option,
            format!("must be a finite number of milliseconds >= 0, got {v}"),
        )
    })
}

/// `sync` and `syncIntervalMs`. The interval configures the interval mode only: it may be given
/// alone when that mode is the core's default, and may be left out when the default has one.
fn sync_policy(js: &NativeOptions, default: SyncPolicy) -> napi::Result<SyncPolicy> {
    let default_interval = match default {
        SyncPolicy::Interval(d) => Some(d),
        SyncPolicy::None | SyncPolicy::Always => None,
    };
    let interval = |ms| millis("syncIntervalMs", ms).map(SyncPolicy::Interval);
    let not_interval = || invalid("syncIntervalMs", "applies only when sync is 'interval'");
    match (js.sync.as_deref(), js.sync_interval_ms) {
        (None, None) => Ok(default),
        (Some("none"), None) => Ok(SyncPolicy::None),
        (Some("always"), None) => Ok(SyncPolicy::Always),
        (Some("interval"), Some(ms)) => interval(ms),
        (None, Some(ms)) if default_interval.is_some() => interval(ms),
        (None | Some("none" | "always"), Some(_)) => Err(not_interval()),
        (Some("interval"), None) => default_interval
            .map(SyncPolicy::Interval)
            .ok_or_else(|| invalid("syncIntervalMs", "required when sync is 'interval'")),
        (Some(other), _) => Err(invalid(
            "sync",
            format!("expected 'none', 'interval' or 'always', got {other:?}"),
        )),
    }
}

/// `overflow` and `blockTimeoutMs`, by the same rules as `sync`: the timeout configures the block
/// mode only, and must be given with it unless the core's default is a block with a timeout.
fn overflow(js: &NativeOptions, default: Overflow) -> napi::Result<Overflow> {
    let default_timeout = match default {
        Overflow::Block { timeout } => Some(timeout),
        Overflow::Drop => None,
    };
    let block = |ms| millis("blockTimeoutMs", ms).map(|timeout| Overflow::Block { timeout });
    let not_block = || invalid("blockTimeoutMs", "applies only when overflow is 'block'");
    match (js.overflow.as_deref(), js.block_timeout_ms) {
        (None, None) => Ok(default),
        (Some("drop"), None) => Ok(Overflow::Drop),
        (Some("block"), Some(ms)) => block(ms),
        (None, Some(ms)) if default_timeout.is_some() => block(ms),
        (None | Some("drop"), Some(_)) => Err(not_block()),
        (Some("block"), None) => default_timeout
            .map(|timeout| Overflow::Block { timeout })
            .ok_or_else(|| invalid("blockTimeoutMs", "required when overflow is 'block'")),
        (Some(other), _) => Err(invalid(
            "overflow",
            format!("expected 'drop' or 'block', got {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::js_option_name;

    fn err(js: NativeOptions) -> String {
        to_core(&js).unwrap_err().reason
    }

    #[test]
    fn defaults_are_the_cores() {
        assert_eq!(
            to_core(&NativeOptions::default()).unwrap(),
            Options::default()
        );
    }

    #[test]
    fn every_option_is_translated() {
        let o = to_core(&NativeOptions {
            sync: Some("always".into()),
            ring_batches: Some(8.0),
            ring_bytes: Some(1e6),
            overflow: Some("block".into()),
            block_timeout_ms: Some(2.5),
            page_rows: Some(128.0),
            page_max_age_ms: Some(500.0),
            segment_max_bytes: Some(2e6),
            segment_max_age_ms: Some(60_000.0),
            bufferpool_bytes: Some(4e6),
            retention_max_age_ms: Some(86_400_000.0),
            retention_max_bytes: Some(1e9),
            writers: Some(2.0),
            ..NativeOptions::default()
        })
        .unwrap();
        assert_eq!(o.sync, SyncPolicy::Always);
        assert_eq!(o.writers, 2);
        assert_eq!((o.ring_batches, o.ring_bytes), (8, 1_000_000));
        assert_eq!(
            o.overflow,
            Overflow::Block {
                timeout: Duration::from_micros(2500)
            }
        );
        assert_eq!(o.page_rows, 128);
        assert_eq!(o.page_max_age, Duration::from_millis(500));
        assert_eq!(o.segment_max_bytes, 2_000_000);
        assert_eq!(o.segment_max_age, Duration::from_secs(60));
        assert_eq!(o.bufferpool_bytes, 4_000_000);
        assert_eq!(o.retention.max_age, Some(Duration::from_secs(86_400)));
        assert_eq!(o.retention.max_bytes, Some(1_000_000_000));
        let o = to_core(&NativeOptions {
            sync_interval_ms: Some(20.0),
            ..NativeOptions::default()
        })
        .unwrap();
        assert_eq!(o.sync, SyncPolicy::Interval(Duration::from_millis(20)));
    }

    #[test]
    fn errors_name_the_js_option() {
        let page_rows = |v| NativeOptions {
            page_rows: Some(v),
            ..NativeOptions::default()
        };
        assert!(err(page_rows(1.5)).starts_with("invalid option `pageRows`: must be a whole"));
        assert!(err(page_rows(-1.0)).starts_with("invalid option `pageRows`"));
        assert!(err(page_rows(f64::NAN)).starts_with("invalid option `pageRows`"));
        let e = err(NativeOptions {
            sync: Some("sometimes".into()),
            ..NativeOptions::default()
        });
        assert!(e.starts_with("invalid option `sync`"), "{e}");
        let e = err(NativeOptions {
            sync: Some("none".into()),
            sync_interval_ms: Some(5.0),
            ..NativeOptions::default()
        });
        assert!(e.starts_with("invalid option `syncIntervalMs`"), "{e}");
        let e = err(NativeOptions {
            overflow: Some("block".into()),
            ..NativeOptions::default()
        });
        assert!(e.contains("`blockTimeoutMs`: required"), "{e}");
        let e = err(NativeOptions {
            retention_max_age_ms: Some(f64::INFINITY),
            ..NativeOptions::default()
        });
        assert!(e.starts_with("invalid option `retentionMaxAgeMs`"), "{e}");
    }

    #[test]
    fn core_option_names_have_js_spellings() {
        for core in [
            "ring_batches",
            "ring_bytes",
            "page_rows",
            "page_max_age",
            "segment_max_bytes",
            "segment_max_age",
            "bufferpool_bytes",
            "retention.max_age",
            "retention.max_bytes",
            "sync",
            "overflow",
            "writers",
        ] {
            let js = js_option_name(core);
            assert!(!js.contains('_') && !js.contains('.'), "{core} -> {js}");
        }
    }
}
