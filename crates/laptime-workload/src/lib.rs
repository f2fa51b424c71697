//! Reference workload R1: the seeded, deterministic event stream that every benchmark and many tests
//! use (the reference workload R1 of the project design; BENCHMARKS.md describes it).
//!
//! # What R1 is
//!
//! - **Names.** [`R1Config::names`] functions (200 by default) named `Service{i / 8}.method{i % 8}`
//!   (`Service0.method0` .. `Service24.method7`). Popularity is Zipf with s = 1.1 by index: name
//!   index 0 is the most popular (about 21% of calls), index 199 the least (about 0.06%).
//! - **Start times.** Poisson arrivals: gaps are exponential with mean 1,000 ns, rounded to integer
//!   ns, accumulated from [`R1Config::epoch_ns`]; the first call starts one gap after the epoch.
//!   Start times never decrease (a rounded gap may be 0).
//! - **Durations.** Per function log-normal: the median is drawn once per function, log-uniform in
//!   [2 µs, 20 ms], from the seed; sigma is 0.8; rounded to integer ns, at least 1.
//! - **Status.** A call fails with probability 1%, or 5% for the three flaky functions [`FLAKY`]:
//!   name indices 10, 20 and 40 (popularity ranks 11, 21 and 41, about 1.5%, 0.7% and 0.36% of
//!   calls: neither the head nor the tail, so their error rate is visible but not dominant).
//! - **R1-full** ([`R1Config::full`]) adds: every event (call or log) carries the fields `route`
//!   (50 values, uniform) and `tier` (3 values, uniform) together with probability 30%; 2% of events
//!   are log events, with level debug 20%, info 60%, warn 15%, error 5%, a message from 100
//!   templates with one number, and a Zipf-drawn name (the function that logged). Log events have
//!   `duration_ns == 0` and `ok == true` (their severity is the level, not the status), matching the
//!   event model where logs are stored with duration 0.
//!
//! The call events of R1-full are exactly the events of R1-core with the same seed (plus fields):
//! the core columns come from one random stream, the fields and logs from a second one. A log event
//! is inserted between two calls, at a start time drawn uniformly between the previous event's start
//! and the next call's start, so the stream stays ordered by start time.
//!
//! # Determinism
//!
//! The stream depends only on [`R1Config`]: the generator is xoshiro256** seeded by splitmix64,
//! written here, and the transcendental functions it needs (`ln`, `exp`) are implemented here with
//! IEEE-754 basic arithmetic only (+, −, ×, ÷, √, conversions), so no `libm`, platform or dependency
//! version can change a single bit. `stream_is_frozen` in the tests pins a hash of the stream;
//! changing the generator is a format change of every benchmark result and needs a new name (R2).
//!
//! # Entropy floor
//!
//! [`entropy_floor`] computes the information content of the core columns (name, start gap,
//! duration given name) analytically; BENCHMARKS.md quotes about 5.6 + 11.4 + 19.6 bits (4.6 B/event).
//! The duration term depends on the per-function medians, hence on the seed: with the Zipf weights,
//! its standard deviation across seeds is about 1 bit around a mean of about 19.3 bits. For the
//! default seed the floor is 5.57 + 11.41 + 20.05 bits = 4.63 B/event.
//! [`empirical_entropy`] is the plug-in estimate from a sample, for comparison.
//!
//! ```
//! use laptime_workload::{R1Config, R1};
//!
//! let mut r1 = R1::new(R1Config::default());
//! let mut events = Vec::new();
//! r1.fill(1000, &mut events);
//! assert!(events.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
//! let name = &r1.names()[events[0].name as usize];
//! assert!(name.starts_with("Service"));
//! ```

use std::fmt;

use laptime_storage::Result;
use laptime_storage::{Batch, Level, NameId, Value};

/// Seed of [`R1Config::default`].
pub const DEFAULT_SEED: u64 = 1;
/// Epoch of [`R1Config::default`]: 2023-11-14T22:13:20Z in ns.
pub const DEFAULT_EPOCH_NS: u64 = 1_700_000_000_000_000_000;
/// Number of function names of [`R1Config::default`].
pub const DEFAULT_NAMES: usize = 200;
/// Zipf exponent of name popularity.
pub const ZIPF_S: f64 = 1.1;
/// Mean gap between event starts, ns.
pub const GAP_MEAN_NS: f64 = 1000.0;
/// Sigma of the log-normal durations (natural log).
pub const DURATION_SIGMA: f64 = 0.8;
/// Lowest per-function median duration, ns.
pub const MEDIAN_MIN_NS: f64 = 2_000.0;
/// Highest per-function median duration, ns.
pub const MEDIAN_MAX_NS: f64 = 20_000_000.0;
/// Error probability of an ordinary call.
pub const ERROR_RATE: f64 = 0.01;
/// Error probability of a call to a [`FLAKY`] function.
pub const FLAKY_ERROR_RATE: f64 = 0.05;
/// Name indices of the flaky functions (those below [`R1Config::names`]).
pub const FLAKY: [u32; 3] = [10, 20, 40];
/// R1-full: share of events that carry the fields `route` and `tier`.
pub const FIELD_RATE: f64 = 0.30;
/// R1-full: share of events that are log events.
pub const LOG_RATE: f64 = 0.02;
/// Key of the route field.
pub const ROUTE_KEY: &str = "route";
/// Key of the tier field.
pub const TIER_KEY: &str = "tier";
/// Number of distinct routes.
pub const ROUTES: usize = 50;
/// Number of distinct tiers.
pub const TIERS: usize = 3;
/// Number of distinct log message templates.
pub const TEMPLATES: usize = 100;

const RESOURCES: [&str; 10] = [
    "users",
    "orders",
    "products",
    "carts",
    "payments",
    "invoices",
    "sessions",
    "reviews",
    "shipments",
    "accounts",
];
const ROUTE_SHAPES: [(&str, &str); 5] = [
    ("/api/v1/", ""),
    ("/api/v1/", "/:id"),
    ("/api/v1/", "/:id/history"),
    ("/api/v2/", "/search"),
    ("/api/v2/", "/:id/status"),
];
const TIER_NAMES: [&str; TIERS] = ["free", "pro", "enterprise"];
const LOG_SUBJECTS: [&str; 25] = [
    "cache",
    "db pool",
    "http client",
    "auth",
    "queue",
    "scheduler",
    "payment gateway",
    "mailer",
    "search index",
    "rate limiter",
    "session store",
    "blob store",
    "config",
    "feature flags",
    "metrics",
    "router",
    "tls",
    "dns",
    "worker",
    "billing",
    "inventory",
    "webhook",
    "export job",
    "import job",
    "gc",
];
const LOG_FORMS: [(&str, &str); 4] = [
    (": processed ", " items"),
    (": retrying after ", " ms"),
    (": miss for key ", ""),
    (": queue depth ", ""),
];

/// Configuration of an R1 stream. Two equal configurations give identical streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct R1Config {
    /// Seed of every random choice (per-function medians, the core stream, the fields and logs).
    pub seed: u64,
    /// R1-full (fields and log events) instead of R1-core.
    pub full: bool,
    /// Start of time; the first call starts one exponential gap later.
    pub epoch_ns: u64,
    /// Number of function names; 0 is treated as 1 and values above `u32::MAX` as `u32::MAX`.
    pub names: usize,
}

impl Default for R1Config {
    /// R1-core, seed [`DEFAULT_SEED`], epoch [`DEFAULT_EPOCH_NS`], [`DEFAULT_NAMES`] names.
    fn default() -> R1Config {
        R1Config {
            seed: DEFAULT_SEED,
            full: false,
            epoch_ns: DEFAULT_EPOCH_NS,
            names: DEFAULT_NAMES,
        }
    }
}

/// One generated event: a call, or (R1-full only) a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct R1Event {
    /// Index into [`R1::names`].
    pub name: u32,
    /// Wall-clock start, epoch ns; non-decreasing along the stream.
    pub start_ns: u64,
    /// Duration in ns: at least 1 for calls, 0 for log events.
    pub duration_ns: u64,
    /// False when the call failed; always true for log events.
    pub ok: bool,
    /// The log payload of a log event; `None` for calls.
    pub log: Option<R1Log>,
    /// Value of the `route` field, as an index into the routes of [`R1::field_values`].
    /// Set together with `tier` (R1-full only).
    pub route: Option<u16>,
    /// Value of the `tier` field, as an index into the tiers of [`R1::field_values`].
    pub tier: Option<u8>,
}

/// The payload of a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct R1Log {
    /// Level as numbered by the event model: 1 = debug, 2 = info, 3 = warn, 4 = error
    /// (0 = trace and 5 = fatal are not used by R1).
    pub level: u8,
    /// Message template, `0..TEMPLATES`.
    pub template: u16,
    /// The number rendered into the template.
    pub number: u64,
}

impl R1Log {
    /// The rendered message, e.g. `"cache: processed 42 items"`. A template index beyond
    /// [`TEMPLATES`] wraps around.
    pub fn message(&self) -> String {
        let (subject, (before, after)) = template_parts(self.template);
        format!("{subject}{before}{}{after}", self.number)
    }

    /// The template with `{}` where the number goes, e.g. `"cache: processed {} items"`.
    pub fn template_text(&self) -> String {
        log_template(self.template)
    }
}

/// Text of log template `template` (wrapping beyond [`TEMPLATES`]), with `{}` for the number.
pub fn log_template(template: u16) -> String {
    let (subject, (before, after)) = template_parts(template);
    format!("{subject}{before}{{}}{after}")
}

fn template_parts(template: u16) -> (&'static str, (&'static str, &'static str)) {
    let t = usize::from(template) % TEMPLATES;
    (
        LOG_SUBJECTS[t / LOG_FORMS.len()],
        LOG_FORMS[t % LOG_FORMS.len()],
    )
}

/// Bits per event needed by the core columns (name, start gap, duration given name).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropyFloor {
    /// Entropy of the name column.
    pub name_bits: f64,
    /// Entropy of the gap between consecutive start times, at 1 ns precision.
    pub gap_bits: f64,
    /// Conditional entropy of the duration given the name, at 1 ns precision.
    pub duration_given_name_bits: f64,
}

impl EntropyFloor {
    /// Total bits per event.
    pub fn bits_per_event(&self) -> f64 {
        self.name_bits + self.gap_bits + self.duration_given_name_bits
    }

    /// The lossless floor in bytes per event.
    pub fn bytes_per_event(&self) -> f64 {
        self.bits_per_event() / 8.0
    }
}

impl fmt::Display for EntropyFloor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "name {:.2} + gap {:.2} + duration|name {:.2} bits = {:.2} B/event",
            self.name_bits,
            self.gap_bits,
            self.duration_given_name_bits,
            self.bytes_per_event()
        )
    }
}

/// Analytic entropy floor of R1's core columns for `cfg` (the seed matters through the medians).
///
/// - name: Shannon entropy of the Zipf(1.1) probabilities;
/// - gap: exact entropy of an exponential with mean 1,000 ns rounded to integer ns (≈ log2(e·1000));
/// - duration given name: popularity-weighted differential entropy of each function's log-normal,
///   log2(median · sigma · √(2πe)) bits. This equals the entropy at 1 ns precision because the
///   spread of every function (at least 2 µs · 0.8) is far above 1 ns.
pub fn entropy_floor(cfg: &R1Config) -> EntropyFloor {
    let params = Params::new(cfg);
    let name_bits = params.probs.iter().map(|&p| -p * p.log2()).sum();
    let log2_spread =
        (DURATION_SIGMA * (2.0 * std::f64::consts::PI * std::f64::consts::E).sqrt()).log2();
    let duration_given_name_bits = params
        .probs
        .iter()
        .zip(&params.funcs)
        .map(|(&p, f)| p * (f.median_ns.log2() + log2_spread))
        .sum();
    EntropyFloor {
        name_bits,
        gap_bits: rounded_exponential_entropy_bits(GAP_MEAN_NS),
        duration_given_name_bits,
    }
}

/// Entropy in bits of round(X), X exponential with mean `mean`.
fn rounded_exponential_entropy_bits(mean: f64) -> f64 {
    // P(0) = P(X < 0.5), P(k) = P(k - 0.5 <= X < k + 0.5); the sum stops where the tail is < 1e-18.
    let cdf = |x: f64| 1.0 - (-x / mean).exp();
    let term = |p: f64| if p > 0.0 { -p * p.log2() } else { 0.0 };
    let mut h = term(cdf(0.5));
    let last = (mean * 42.0) as u64;
    for k in 1..=last {
        let lo = (-(k as f64 - 0.5) / mean).exp();
        let hi = (-(k as f64 + 0.5) / mean).exp();
        h += term(lo - hi);
    }
    h
}

/// Plug-in (maximum likelihood) entropy of the core columns of a sample, for comparison with
/// [`entropy_floor`]. Only call events count (log events are skipped); gaps are taken between
/// consecutive calls in the order given (a decreasing start counts as gap 0).
///
/// The plug-in estimate is biased downward, by about (distinct values − 1) / (2 N ln 2) bits when
/// the sample is large against the number of distinct values. That holds for names and gaps (2M
/// events: < 0.01 bits), but not for durations at 1 ns precision: a function with N calls yields at
/// most log2(N) bits, so the duration term stays several bits below the floor for any practical
/// sample (its durations spread over about 2^19 distinct ns values per function).
pub fn empirical_entropy(events: &[R1Event]) -> EntropyFloor {
    let mut names: Vec<u32> = Vec::with_capacity(events.len());
    let mut gaps: Vec<u64> = Vec::with_capacity(events.len());
    let mut pairs: Vec<(u32, u64)> = Vec::with_capacity(events.len());
    let mut prev: Option<u64> = None;
    for e in events.iter().filter(|e| e.log.is_none()) {
        names.push(e.name);
        pairs.push((e.name, e.duration_ns));
        if let Some(p) = prev {
            gaps.push(e.start_ns.saturating_sub(p));
        }
        prev = Some(e.start_ns);
    }
    let name_bits = plug_in_bits(&mut names);
    // H(D | N) = H(N, D) - H(N), which also holds exactly for the plug-in estimates.
    let joint_bits = plug_in_bits(&mut pairs);
    EntropyFloor {
        name_bits,
        gap_bits: plug_in_bits(&mut gaps),
        duration_given_name_bits: (joint_bits - name_bits).max(0.0),
    }
}

/// Plug-in entropy of the values in `v` (sorted in place), bits.
fn plug_in_bits<T: Ord + Copy>(v: &mut [T]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let n = v.len() as f64;
    let mut sum_c_log_c = 0.0;
    for run in v.chunk_by(|a, b| a == b) {
        let c = run.len() as f64;
        sum_c_log_c += c * c.log2();
    }
    n.log2() - sum_c_log_c / n
}

/// The R1 generator: an endless, deterministic [`Iterator`] of [`R1Event`]s.
#[derive(Debug, Clone)]
pub struct R1 {
    cfg: R1Config,
    names: Vec<String>,
    routes: Vec<String>,
    tiers: Vec<String>,
    params: Params,
    /// Draws name, duration, status and gap of calls.
    core: Xoshiro256,
    /// Draws everything R1-full adds (fields, log events).
    extra: Xoshiro256,
    /// Second value of the last polar-method pair, if not used yet.
    spare_normal: Option<f64>,
    /// Start of the next call.
    next_call_ns: u64,
    /// Start of the last event handed out (the epoch before the first).
    last_ns: u64,
}

impl R1 {
    /// The generator for `cfg`, positioned at the first event.
    pub fn new(cfg: R1Config) -> R1 {
        let params = Params::new(&cfg);
        let n = params.funcs.len();
        let mut seeder = SplitMix64(cfg.seed);
        // params drew the medians from the first generator of this sequence; see Params::new.
        let _medians = Xoshiro256::from_splitmix(&mut seeder);
        let mut core = Xoshiro256::from_splitmix(&mut seeder);
        let extra = Xoshiro256::from_splitmix(&mut seeder);
        let first_gap = gap_ns(&params.math, core.next_u64());
        R1 {
            cfg,
            names: (0..n)
                .map(|i| format!("Service{}.method{}", i / 8, i % 8))
                .collect(),
            routes: RESOURCES
                .iter()
                .flat_map(|r| {
                    ROUTE_SHAPES
                        .iter()
                        .map(move |(before, after)| format!("{before}{r}{after}"))
                })
                .collect(),
            tiers: TIER_NAMES.iter().map(|t| (*t).to_owned()).collect(),
            params,
            core,
            extra,
            spare_normal: None,
            next_call_ns: cfg.epoch_ns.saturating_add(first_gap),
            last_ns: cfg.epoch_ns,
        }
    }

    /// The configuration this stream was made from.
    pub fn config(&self) -> &R1Config {
        &self.cfg
    }

    /// Function names, `Service{i / 8}.method{i % 8}`; [`R1Event::name`] indexes this. Unique,
    /// and independent of the seed.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Values of the R1-full fields: (routes, tiers), indexed by [`R1Event::route`] and
    /// [`R1Event::tier`]. The 50 routes are 10 resources × 5 shapes such as `/api/v1/users/:id`;
    /// the tiers are `free`, `pro` and `enterprise`. Independent of the seed.
    pub fn field_values(&self) -> (&[String], &[String]) {
        (&self.routes, &self.tiers)
    }

    /// Probability of each name (Zipf, s = 1.1), by name index.
    pub fn name_probabilities(&self) -> &[f64] {
        &self.params.probs
    }

    /// Median duration of each function in ns as drawn from the seed, by name index.
    pub fn medians_ns(&self) -> Vec<f64> {
        self.params.funcs.iter().map(|f| f.median_ns).collect()
    }

    /// Append the next `n` events to `out`.
    pub fn fill(&mut self, n: usize, out: &mut Vec<R1Event>) {
        out.reserve(n);
        if self.cfg.full {
            for _ in 0..n {
                let e = self.next_full();
                out.push(e);
            }
        } else {
            for _ in 0..n {
                let e = self.next_call();
                out.push(e);
            }
        }
    }

    /// The next event.
    #[inline]
    fn next_event(&mut self) -> R1Event {
        if self.cfg.full {
            self.next_full()
        } else {
            self.next_call()
        }
    }

    /// The next call from the core stream, without fields.
    #[inline(always)]
    fn next_call(&mut self) -> R1Event {
        let name = self.params.zipf.sample(self.core.next_u64());
        let f = self.params.funcs[name as usize];
        let z = self.normal();
        let d = self.params.math.exp(f.mu + DURATION_SIGMA * z);
        // d >= 0, so adding 0.5 and truncating rounds to nearest; `as` saturates on overflow.
        let duration_ns = ((d + 0.5) as u64).max(1);
        let ok = self.core.next_u64() >= f.error_threshold;
        let start_ns = self.next_call_ns;
        let gap = gap_ns(&self.params.math, self.core.next_u64());
        self.next_call_ns = start_ns.saturating_add(gap);
        self.last_ns = start_ns;
        R1Event {
            name,
            start_ns,
            duration_ns,
            ok,
            log: None,
            route: None,
            tier: None,
        }
    }

    /// The next event of R1-full: a log event with probability [`LOG_RATE`], else the next call;
    /// then fields with probability [`FIELD_RATE`].
    fn next_full(&mut self) -> R1Event {
        let r = self.extra.next_u64();
        let mut e = if (r >> 32) < LOG_THRESHOLD_32 {
            self.next_log()
        } else {
            self.next_call()
        };
        if (r & 0xffff_ffff) < FIELD_THRESHOLD_32 {
            let f = self.extra.next_u64();
            e.route = Some(below_32(f >> 32, ROUTES as u64) as u16);
            e.tier = Some(below_32(f & 0xffff_ffff, TIERS as u64) as u8);
        }
        e
    }

    /// A log event between the last event and the next call.
    fn next_log(&mut self) -> R1Event {
        let r = self.extra.next_u64();
        let span = self.next_call_ns.saturating_sub(self.last_ns);
        let start_ns = self.last_ns + below_32(r >> 32, span);
        let level_draw = below_32(r & 0xffff_ffff, 100);
        let level = match level_draw {
            0..20 => 1,
            20..80 => 2,
            80..95 => 3,
            _ => 4,
        };
        let name = self.params.zipf.sample(self.extra.next_u64());
        let r = self.extra.next_u64();
        let template = below_32(r >> 32, TEMPLATES as u64) as u16;
        // Uniform below 10^d with d uniform in 1..=6: small numbers are common, as in real logs.
        let digits = below_32(r & 0xffff_ffff, 6) as u32 + 1;
        let number = below_64(self.extra.next_u64(), 10u64.pow(digits));
        self.last_ns = start_ns;
        R1Event {
            name,
            start_ns,
            duration_ns: 0,
            ok: true,
            log: Some(R1Log {
                level,
                template,
                number,
            }),
            route: None,
            tier: None,
        }
    }

    /// A standard normal value (Marsaglia's polar method, which yields two values per accepted
    /// pair and needs only `ln` and `sqrt`).
    #[inline(always)]
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let r = self.core.next_u64();
            // Two uniforms in [-1, 1) from the two halves of one draw.
            let x = f64::from((r >> 32) as u32 as i32) * TWO_POW_M31;
            let y = f64::from(r as u32 as i32) * TWO_POW_M31;
            let s = x * x + y * y;
            if s < 1.0 && s > 0.0 {
                let factor = (-2.0 * self.params.math.ln(s) / s).sqrt();
                self.spare_normal = Some(y * factor);
                return x * factor;
            }
        }
    }
}

/// R1's strings interned in a store: turns [`R1Event`]s into [`Batch`] rows.
#[derive(Debug, Clone)]
pub struct R1Interned {
    names: Vec<NameId>,
    route_key: NameId,
    tier_key: NameId,
    routes: Vec<String>,
    tiers: Vec<String>,
}

impl R1Interned {
    /// Intern the names and field keys of `r1` with `intern` (e.g. `|s| store.intern(s)`).
    pub fn new(r1: &R1, mut intern: impl FnMut(&str) -> Result<NameId>) -> Result<R1Interned> {
        let names = r1
            .names()
            .iter()
            .map(|n| intern(n))
            .collect::<Result<Vec<_>>>()?;
        let (routes, tiers) = r1.field_values();
        Ok(R1Interned {
            names,
            route_key: intern(ROUTE_KEY)?,
            tier_key: intern(TIER_KEY)?,
            routes: routes.to_vec(),
            tiers: tiers.to_vec(),
        })
    }

    /// Append `e` to `batch`.
    pub fn push(&self, e: &R1Event, batch: &mut Batch) {
        let name = self.names.get(e.name as usize).copied().unwrap_or(0);
        match &e.log {
            Some(log) => {
                let level = Level::from_u8(log.level).unwrap_or(Level::Info);
                batch.push_log(name, e.start_ns, level, &log.message());
            }
            None => {
                batch.push_call(name, e.start_ns, e.duration_ns, e.ok);
            }
        }
        if let Some(r) = e.route.and_then(|r| self.routes.get(r as usize)) {
            batch.add_field(self.route_key, Value::Str(r.clone()));
        }
        if let Some(t) = e.tier.and_then(|t| self.tiers.get(t as usize)) {
            batch.add_field(self.tier_key, Value::Str(t.clone()));
        }
    }

    /// `events` as batches of at most `batch_len` events.
    pub fn batches(&self, events: &[R1Event], batch_len: usize) -> Vec<Batch> {
        events
            .chunks(batch_len.max(1))
            .map(|chunk| {
                let mut b = Batch::with_capacity(chunk.len());
                for e in chunk {
                    self.push(e, &mut b);
                }
                b
            })
            .collect()
    }
}

impl Iterator for R1 {
    type Item = R1Event;

    /// Always `Some`: the stream is endless.
    fn next(&mut self) -> Option<R1Event> {
        Some(self.next_event())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

const TWO_POW_M31: f64 = 1.0 / 2_147_483_648.0;
const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;
const TWO_POW_32: f64 = 4_294_967_296.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
const LOG_THRESHOLD_32: u64 = (LOG_RATE * TWO_POW_32) as u64;
const FIELD_THRESHOLD_32: u64 = (FIELD_RATE * TWO_POW_32) as u64;

/// `r` (32 random bits) mapped to `0..n` by multiply-shift.
#[inline]
fn below_32(r: u64, n: u64) -> u64 {
    (r * n) >> 32
}

/// `r` (64 random bits) mapped to `0..n` by multiply-shift.
#[inline]
fn below_64(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}

/// An exponential gap with mean [`GAP_MEAN_NS`], rounded to integer ns, from 64 random bits.
#[inline(always)]
fn gap_ns(math: &DetMath, r: u64) -> u64 {
    // u in (0, 1], so ln(u) is finite and <= 0.
    let u = ((r >> 11) + 1) as f64 * TWO_POW_M53;
    (-GAP_MEAN_NS * math.ln(u) + 0.5) as u64
}

/// Everything drawn or computed once per stream.
#[derive(Debug, Clone)]
struct Params {
    math: DetMath,
    probs: Vec<f64>,
    zipf: Alias,
    funcs: Vec<Func>,
}

/// Per-function constants, packed for the hot path.
#[derive(Debug, Clone, Copy)]
struct Func {
    /// ln(median_ns).
    mu: f64,
    median_ns: f64,
    /// A call fails when a uniform u64 is below this.
    error_threshold: u64,
}

impl Params {
    fn new(cfg: &R1Config) -> Params {
        let n = cfg.names.clamp(1, u32::MAX as usize);
        let math = DetMath::new();
        let weights: Vec<f64> = (1..=n)
            .map(|k| math.exp(-ZIPF_S * math.ln(k as f64)))
            .collect();
        let total: f64 = weights.iter().sum();
        let probs: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let zipf = Alias::new(&probs);
        // The first generator derived from the seed draws the medians (R1::new skips it).
        let mut medians = Xoshiro256::from_splitmix(&mut SplitMix64(cfg.seed));
        let (ln_lo, ln_hi) = (math.ln(MEDIAN_MIN_NS), math.ln(MEDIAN_MAX_NS));
        let funcs = (0..n)
            .map(|i| {
                let u = (medians.next_u64() >> 11) as f64 * TWO_POW_M53;
                let mu = ln_lo + u * (ln_hi - ln_lo);
                let flaky = FLAKY.iter().any(|&f| f as usize == i);
                let rate = if flaky { FLAKY_ERROR_RATE } else { ERROR_RATE };
                Func {
                    mu,
                    median_ns: math.exp(mu),
                    error_threshold: (rate * TWO_POW_64) as u64,
                }
            })
            .collect();
        Params {
            math,
            probs,
            zipf,
            funcs,
        }
    }
}

/// Walker's alias table over `0..n` with 32-bit acceptance thresholds: one u64 per sample.
#[derive(Debug, Clone)]
struct Alias {
    /// (accept threshold out of 2^32, alias index) per column.
    slots: Vec<(u64, u32)>,
}

impl Alias {
    /// Vose's construction; `probs` is non-empty and sums to 1.
    fn new(probs: &[f64]) -> Alias {
        let n = probs.len();
        let mut scaled: Vec<f64> = probs.iter().map(|p| p * n as f64).collect();
        let mut slots: Vec<(u64, u32)> = (0..n).map(|i| (1u64 << 32, i as u32)).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            slots[s] = ((scaled[s] * TWO_POW_32) as u64, l as u32);
            scaled[l] = (scaled[l] + scaled[s]) - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left (rounding residue) keeps probability 1 of its own column.
        Alias { slots }
    }

    #[inline(always)]
    fn sample(&self, r: u64) -> u32 {
        let col = below_32(r >> 32, self.slots.len() as u64) as usize;
        let (threshold, alias) = self.slots[col];
        if (r & 0xffff_ffff) < threshold {
            col as u32
        } else {
            alias
        }
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): expands R1's seed, and is the small deterministic
/// generator tools use to split R1's events (over stores, for instance) reproducibly.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next output (the state advances by the golden-ratio increment).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018).
#[derive(Debug, Clone)]
struct Xoshiro256([u64; 4]);

impl Xoshiro256 {
    /// The next four splitmix64 outputs as state (never all zero in practice: splitmix64 is a
    /// bijection of its counter, and four consecutive zero outputs do not occur).
    fn from_splitmix(seeder: &mut SplitMix64) -> Xoshiro256 {
        Xoshiro256([
            seeder.next_u64(),
            seeder.next_u64(),
            seeder.next_u64(),
            seeder.next_u64(),
        ])
    }

    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

/// ln 2 split so that `k * LN2_HI` is exact for |k| < 2^20 (the fdlibm constants).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const EXP_TABLE_BITS: u32 = 6;
const EXP_TABLE: usize = 1 << EXP_TABLE_BITS;
const LN_TABLE_BITS: u32 = 7;
const LN_TABLE: usize = 1 << LN_TABLE_BITS;

/// `ln` and `exp` from IEEE-754 basic operations only, so their results are the same bits on every
/// platform (unlike `f64::ln`/`f64::exp`, which call the platform's libm). Both are table driven
/// (a short polynomial after a table lookup) and accurate to a few ulp, far more than R1 needs.
#[derive(Debug, Clone)]
struct DetMath {
    /// 2^(j/64).
    exp2_frac: [f64; EXP_TABLE],
    /// (1/c_j rounded, -ln of that) for c_j = 1 + (j + 0.5)/128.
    ln_inv: [(f64, f64); LN_TABLE],
}

impl DetMath {
    fn new() -> DetMath {
        let mut exp2_frac = [0.0; EXP_TABLE];
        for (j, v) in exp2_frac.iter_mut().enumerate() {
            *v = exp_series(j as f64 * (std::f64::consts::LN_2 / EXP_TABLE as f64));
        }
        let mut ln_inv = [(0.0, 0.0); LN_TABLE];
        for (j, v) in ln_inv.iter_mut().enumerate() {
            let c = 1.0 + (j as f64 + 0.5) / LN_TABLE as f64;
            let inv = 1.0 / c;
            *v = (inv, -ln_series(inv));
        }
        DetMath { exp2_frac, ln_inv }
    }

    /// Natural logarithm of a positive finite `x` (0 gives -inf, negative or NaN gives NaN).
    #[inline(always)]
    fn ln(&self, x: f64) -> f64 {
        if x.is_nan() || x < 0.0 {
            return f64::NAN;
        }
        if x == 0.0 {
            return f64::NEG_INFINITY;
        }
        if x == f64::INFINITY {
            return x;
        }
        let mut bits = x.to_bits();
        let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
        if e == -1023 {
            // Subnormal: scale by 2^54 into the normal range.
            bits = (x * 18_014_398_509_481_984.0).to_bits();
            e = ((bits >> 52) & 0x7ff) as i64 - 1023 - 54;
        }
        // m in [1, 2); j = its top 7 fraction bits.
        let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
        let j = ((bits >> (52 - LN_TABLE_BITS)) & (LN_TABLE as u64 - 1)) as usize;
        let (inv, ln_c) = self.ln_inv[j];
        // m * inv = 1 + r with |r| < 1/256; ln m = ln c + ln(1 + r).
        let r = m * inv - 1.0;
        let r2 = r * r;
        // ln(1 + r) = r - r^2/2 + r^3/3 - ... ; the r^7 term is below 3e-18.
        let p = r - r2 * (0.5 - r * (1.0 / 3.0)) + r2 * r2 * (-0.25 + r * (0.2 - r * (1.0 / 6.0)));
        let ef = e as f64;
        ef * LN2_HI + (ln_c + (p + ef * LN2_LO))
    }

    /// e^x; results underflow to 0 below -708 and overflow to +inf above 709.
    #[inline(always)]
    fn exp(&self, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        if x > 709.0 {
            return f64::INFINITY;
        }
        if x < -708.0 {
            return 0.0;
        }
        // x = k ln2/64 + r, |r| <= ln2/128; e^x = 2^(k >> 6) * 2^((k & 63)/64) * e^r.
        let t = x * (EXP_TABLE as f64 / std::f64::consts::LN_2);
        let k = (t + if t < 0.0 { -0.5 } else { 0.5 }) as i64;
        let kf = k as f64;
        let r = (x - kf * (LN2_HI / EXP_TABLE as f64)) - kf * (LN2_LO / EXP_TABLE as f64);
        let r2 = r * r;
        // e^r to degree 5; the r^6 term is below 4e-17.
        let p = 1.0 + r + r2 * (0.5 + r * (1.0 / 6.0)) + r2 * r2 * (1.0 / 24.0 + r * (1.0 / 120.0));
        let scale = f64::from_bits((((k >> EXP_TABLE_BITS) + 1023) as u64) << 52);
        self.exp2_frac[(k & (EXP_TABLE as i64 - 1)) as usize] * p * scale
    }
}

/// e^x by its Taylor series, for 0 <= x < 1 (table construction only).
fn exp_series(x: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..30 {
        term *= x / i as f64;
        sum += term;
    }
    sum
}

/// ln x by the series 2 atanh((x - 1)/(x + 1)), for x in [0.5, 1] (table construction only).
fn ln_series(x: f64) -> f64 {
    let s = (x - 1.0) / (x + 1.0);
    let s2 = s * s;
    let mut power = s;
    let mut sum = 0.0;
    for i in 0..40 {
        sum += power / (2 * i + 1) as f64;
        power *= s2;
    }
    2.0 * sum
}

/// Bytes of every file under `path`, recursively: what a store (or any directory) takes on disk,
/// as benchmarks report it.
pub fn bytes_under(path: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        total += if entry.file_type()?.is_dir() {
            bytes_under(&entry.path())?
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cfg: R1Config, n: usize) -> (R1, Vec<R1Event>) {
        let mut r1 = R1::new(cfg);
        let mut events = Vec::new();
        r1.fill(n, &mut events);
        (r1, events)
    }

    fn full() -> R1Config {
        R1Config {
            full: true,
            ..R1Config::default()
        }
    }

    /// FNV-1a over the event fields, to pin the stream.
    fn stream_hash(events: &[R1Event]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |v: u64| {
            for b in v.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for e in events {
            eat(u64::from(e.name));
            eat(e.start_ns);
            eat(e.duration_ns);
            eat(u64::from(e.ok));
            eat(e.route.map_or(u64::MAX, u64::from));
            eat(e.tier.map_or(u64::MAX, u64::from));
            if let Some(l) = e.log {
                eat(u64::from(l.level));
                eat(u64::from(l.template));
                eat(l.number);
            }
        }
        h
    }

    #[test]
    fn deterministic_per_seed() {
        for cfg in [R1Config::default(), full()] {
            let (_, a) = sample(cfg, 10_000);
            let (_, b) = sample(cfg, 10_000);
            assert_eq!(a, b);
            let (_, c) = sample(R1Config { seed: 2, ..cfg }, 10_000);
            assert_ne!(a, c);
            let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
            assert!(differing > 9_000, "{differing}");
        }
    }

    #[test]
    fn iterator_and_fill_agree() {
        for cfg in [R1Config::default(), full()] {
            let (_, filled) = sample(cfg, 5_000);
            let iterated: Vec<R1Event> = R1::new(cfg).take(5_000).collect();
            assert_eq!(filled, iterated);
            // fill in pieces continues the same stream.
            let mut r1 = R1::new(cfg);
            let mut pieces = Vec::new();
            r1.fill(1_234, &mut pieces);
            r1.fill(5_000 - 1_234, &mut pieces);
            assert_eq!(filled, pieces);
        }
    }

    #[test]
    fn stream_is_frozen() {
        // Changing these hashes changes every benchmark's input: R1 must stay R1 forever.
        let (_, core) = sample(R1Config::default(), 100_000);
        let (_, fullv) = sample(full(), 100_000);
        assert_eq!(
            (stream_hash(&core), stream_hash(&fullv)),
            (3_915_040_433_336_241_739, 12_532_634_134_545_106_813),
            "R1 stream changed"
        );
    }

    #[test]
    fn names_fields_and_templates() {
        let r1 = R1::new(R1Config::default());
        let names = r1.names();
        assert_eq!(names.len(), 200);
        assert_eq!(names[0], "Service0.method0");
        assert_eq!(names[199], "Service24.method7");
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), 200);
        let (routes, tiers) = r1.field_values();
        assert_eq!(routes.len(), ROUTES);
        assert!(routes.iter().any(|r| r == "/api/v1/users/:id"));
        assert_eq!(
            routes
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            ROUTES
        );
        assert_eq!(tiers, ["free", "pro", "enterprise"]);
        let templates: std::collections::HashSet<String> =
            (0..TEMPLATES as u16).map(log_template).collect();
        assert_eq!(templates.len(), TEMPLATES);
        assert!(templates.iter().all(|t| t.matches("{}").count() == 1));
        let log = R1Log {
            level: 2,
            template: 0,
            number: 42,
        };
        assert_eq!(log.message(), "cache: processed 42 items");
        assert_eq!(log.template_text(), "cache: processed {} items");
        // Out-of-range templates wrap instead of panicking.
        assert_eq!(log_template(100), log_template(0));
        // Degenerate configurations still work.
        let (_, one) = sample(
            R1Config {
                names: 0,
                ..R1Config::default()
            },
            100,
        );
        assert!(one.iter().all(|e| e.name == 0));
    }

    #[test]
    fn start_times_and_gaps() {
        let (_, events) = sample(R1Config::default(), 1_000_000);
        assert!(events[0].start_ns > DEFAULT_EPOCH_NS);
        assert!(events.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
        let span = events[events.len() - 1].start_ns - DEFAULT_EPOCH_NS;
        let mean = span as f64 / events.len() as f64;
        assert!((mean - 1000.0).abs() < 10.0, "mean gap {mean}");
    }

    #[test]
    fn name_frequencies_follow_zipf() {
        let (r1, events) = sample(R1Config::default(), 1_000_000);
        let mut counts = vec![0u64; 200];
        for e in &events {
            counts[e.name as usize] += 1;
        }
        let probs = r1.name_probabilities();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((probs[0] - 0.2128).abs() < 1e-3, "{}", probs[0]);
        for i in [0usize, 1, 2, 5, 10, 50] {
            let share = counts[i] as f64 / events.len() as f64;
            let sd = (probs[i] * (1.0 - probs[i]) / events.len() as f64).sqrt();
            assert!(
                (share - probs[i]).abs() < 5.0 * sd,
                "name {i}: {share} vs {}",
                probs[i]
            );
        }
        assert!(counts.iter().all(|&c| c > 0));
    }

    #[test]
    fn durations_follow_the_drawn_medians() {
        let (r1, events) = sample(R1Config::default(), 1_000_000);
        let medians = r1.medians_ns();
        assert!(medians
            .iter()
            .all(|&m| (MEDIAN_MIN_NS..=MEDIAN_MAX_NS).contains(&m)));
        let mut per_name: Vec<Vec<u64>> = vec![Vec::new(); 200];
        for e in &events {
            assert!(e.duration_ns >= 1);
            per_name[e.name as usize].push(e.duration_ns);
        }
        let mut checked = 0;
        for (i, d) in per_name.iter_mut().enumerate() {
            if d.len() < 5_000 {
                continue;
            }
            d.sort_unstable();
            let median = d[d.len() / 2] as f64;
            let rel = (median / medians[i] - 1.0).abs();
            assert!(rel < 0.05, "name {i}: {median} vs {}", medians[i]);
            // The spread of ln(duration) is sigma: the 84th percentile is median * e^0.8.
            let p84 = d[(d.len() as f64 * 0.841_344_7) as usize] as f64;
            let sigma = (p84 / median).ln();
            assert!((sigma - DURATION_SIGMA).abs() < 0.05, "name {i}: {sigma}");
            checked += 1;
        }
        assert!(checked >= 10, "{checked}");
        // Medians spread over the whole log-uniform range.
        let ln_lo = MEDIAN_MIN_NS.ln();
        let width = MEDIAN_MAX_NS.ln() - ln_lo;
        let mean_u = medians
            .iter()
            .map(|m| (m.ln() - ln_lo) / width)
            .sum::<f64>()
            / 200.0;
        assert!((mean_u - 0.5).abs() < 0.07, "{mean_u}");
    }

    #[test]
    fn error_rates() {
        let (_, events) = sample(R1Config::default(), 2_000_000);
        let mut calls = vec![0u64; 200];
        let mut errors = vec![0u64; 200];
        for e in &events {
            calls[e.name as usize] += 1;
            errors[e.name as usize] += u64::from(!e.ok);
        }
        let (mut c, mut err) = (0, 0);
        for i in (0..200).filter(|i| !FLAKY.contains(&(*i as u32))) {
            c += calls[i];
            err += errors[i];
        }
        let rate = err as f64 / c as f64;
        assert!((rate - 0.01).abs() < 0.0005, "ordinary error rate {rate}");
        for f in FLAKY {
            let rate = errors[f as usize] as f64 / calls[f as usize] as f64;
            assert!((rate - 0.05).abs() < 0.01, "flaky {f}: {rate}");
        }
    }

    #[test]
    fn full_mode_fields_and_logs() {
        let (_, events) = sample(full(), 1_000_000);
        let n = events.len() as f64;
        let with_fields = events.iter().filter(|e| e.route.is_some()).count() as f64;
        assert!(events.iter().all(|e| e.route.is_some() == e.tier.is_some()));
        assert!(
            (with_fields / n - 0.30).abs() < 0.003,
            "{}",
            with_fields / n
        );
        let logs: Vec<&R1Event> = events.iter().filter(|e| e.log.is_some()).collect();
        assert!(
            (logs.len() as f64 / n - 0.02).abs() < 0.001,
            "{}",
            logs.len()
        );
        let mut levels = [0u64; 6];
        let mut templates = [false; TEMPLATES];
        for e in &logs {
            assert_eq!(e.duration_ns, 0);
            assert!(e.ok);
            if let Some(l) = e.log {
                levels[usize::from(l.level)] += 1;
                templates[usize::from(l.template)] = true;
                assert!(l.number < 1_000_000);
                assert!(l.message().contains(&l.number.to_string()));
            }
        }
        assert_eq!(levels[0] + levels[5], 0);
        assert!(levels[1..5].iter().all(|&c| c > 0), "{levels:?}");
        assert!(levels[2] > levels[1] && levels[1] > levels[3] && levels[3] > levels[4]);
        assert!(templates.iter().all(|&t| t));
        assert!(events.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
        let mut route_seen = [false; ROUTES];
        let mut tier_seen = [false; TIERS];
        for e in &events {
            if let (Some(r), Some(t)) = (e.route, e.tier) {
                route_seen[usize::from(r)] = true;
                tier_seen[usize::from(t)] = true;
            }
        }
        assert!(route_seen.iter().chain(&tier_seen).all(|&s| s));
    }

    #[test]
    fn core_mode_is_full_mode_without_extras() {
        let (_, core) = sample(R1Config::default(), 100_000);
        assert!(core
            .iter()
            .all(|e| e.log.is_none() && e.route.is_none() && e.tier.is_none()));
        let (_, fullv) = sample(full(), 100_000);
        let calls: Vec<R1Event> = fullv
            .iter()
            .filter(|e| e.log.is_none())
            .map(|e| R1Event {
                route: None,
                tier: None,
                ..*e
            })
            .collect();
        assert!(calls.len() > 97_000);
        assert_eq!(calls[..], core[..calls.len()]);
    }

    #[test]
    fn analytic_floor_matches_design() {
        let floor = entropy_floor(&R1Config::default());
        println!("analytic floor, seed {DEFAULT_SEED}: {floor}");
        assert!((floor.name_bits - 5.6).abs() < 0.3, "{floor}");
        assert!((floor.name_bits - 5.567).abs() < 1e-3, "{floor}");
        assert!((floor.gap_bits - 11.4).abs() < 0.3, "{floor}");
        assert!(
            (floor.gap_bits - (std::f64::consts::E * 1000.0).log2()).abs() < 1e-3,
            "{floor}"
        );
        // The duration term depends on the seed through the 200 drawn medians. For the default
        // seed it is 20.05 bits, 0.45 above the 19.6 that BENCHMARKS.md quotes (the total, 4.63 B/event,
        // matches its 4.6). Over seeds it averages 1.725 + log2(sqrt(2 us * 20 ms)) = 19.33 bits
        // with a spread of about 1 bit, so 19.6 is a typical value, not a property of every seed.
        assert!(
            (floor.duration_given_name_bits - 20.05).abs() < 0.01,
            "{floor}"
        );
        let seeds = 300;
        let terms: Vec<f64> = (0..seeds)
            .map(|seed| {
                entropy_floor(&R1Config {
                    seed,
                    ..R1Config::default()
                })
                .duration_given_name_bits
            })
            .collect();
        let mean = terms.iter().sum::<f64>() / seeds as f64;
        let sd = (terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / seeds as f64).sqrt();
        println!("duration|name over {seeds} seeds: mean {mean:.3} bits, sd {sd:.3}");
        let expected = 1.7252 + (MEDIAN_MIN_NS * MEDIAN_MAX_NS).sqrt().log2();
        assert!((mean - expected).abs() < 0.2, "{mean} vs {expected}");
        assert!((0.7..1.3).contains(&sd), "{sd}");
        assert!((19.6 - mean).abs() < sd);
    }

    /// Differential entropy of durations given name in bits, estimated from ln(duration)
    /// histograms (bins of 0.05 nats): h(D) = h(ln D) + E[ln D]. Nearly unbiased at 2M events,
    /// unlike the plug-in estimate at 1 ns precision.
    fn log_domain_duration_bits(events: &[R1Event]) -> f64 {
        let mut by_name: std::collections::BTreeMap<u32, Vec<f64>> = Default::default();
        for e in events.iter().filter(|e| e.log.is_none()) {
            by_name
                .entry(e.name)
                .or_default()
                .push((e.duration_ns as f64).ln());
        }
        let bin = 0.05;
        let mut total = 0.0;
        for ys in by_name.values() {
            let mut bins: Vec<i64> = ys.iter().map(|y| (y / bin).floor() as i64).collect();
            let h_bins = plug_in_bits(&mut bins);
            let mean_ln = ys.iter().sum::<f64>() / ys.len() as f64;
            let h = h_bins + bin.log2() + mean_ln / std::f64::consts::LN_2;
            total += h * ys.len() as f64;
        }
        total / events.len() as f64
    }

    #[test]
    fn empirical_entropy_matches_analytic() {
        let (_, events) = sample(R1Config::default(), 2_000_000);
        let floor = entropy_floor(&R1Config::default());
        let emp = empirical_entropy(&events);
        let log_domain = log_domain_duration_bits(&events);
        println!("empirical plug-in over 2M events: {emp}");
        println!("duration|name from ln-histograms: {log_domain:.3} bits");
        assert!((emp.name_bits - floor.name_bits).abs() < 0.02, "{emp}");
        assert!((emp.gap_bits - floor.gap_bits).abs() < 0.02, "{emp}");
        // Plug-in at 1 ns precision is far below the floor at this size (see the doc).
        assert!(emp.duration_given_name_bits < floor.duration_given_name_bits);
        assert!((log_domain - floor.duration_given_name_bits).abs() < 0.05);
        // Full mode: the estimate skips logs, so it sees the core stream.
        let (_, fullv) = sample(full(), 200_000);
        let emp_full = empirical_entropy(&fullv);
        assert!(
            (emp_full.gap_bits - floor.gap_bits).abs() < 0.1,
            "{emp_full}"
        );
        assert_eq!(
            empirical_entropy(&[]),
            EntropyFloor {
                name_bits: 0.0,
                gap_bits: 0.0,
                duration_given_name_bits: 0.0
            }
        );
    }

    #[test]
    fn det_math_is_accurate() {
        let m = DetMath::new();
        let mut x = 1e-300;
        while x < 1e300 {
            let (a, b) = (m.ln(x), x.ln());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0),
                "ln {x}"
            );
            x *= 1.37;
        }
        let mut x = -700.0;
        while x < 700.0 {
            let (a, b) = (m.exp(x), x.exp());
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * b, "exp {x}: {a} {b}");
            x += 0.0137;
        }
        assert!(m.ln(1.0).abs() < 1e-17);
        assert_eq!(m.exp(0.0), 1.0);
        assert_eq!(m.ln(0.0), f64::NEG_INFINITY);
        assert!(m.ln(-1.0).is_nan());
        assert_eq!(m.exp(1000.0), f64::INFINITY);
        assert_eq!(m.exp(-1000.0), 0.0);
        assert!(m.ln(5e-324).is_finite());
    }
}
