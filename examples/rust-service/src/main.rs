//! A small "service" that a newcomer can run: `cargo run -p rust-service --release`.
//! It records into ./.laptime-rust-example with all three ways laptime offers to Rust code, then
//! prints the per-function table, as `npx laptime stats --dir .laptime-rust-example` would.

use std::time::Duration;

use laptime_core::postmortem::{self, PostMortemOptions};
use laptime_core::query::{Aggregate, GroupBy, OrderBy, OrderKey, Query};
use laptime_core::tracing_layer::LaptimeLayer;
use laptime_core::{capture, Options, Queries, Store};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct NotFound;

/// Timed by the attribute; an `Err` is recorded as an error.
#[laptime_core::capture(name = "Users.find")]
fn find_user(id: u32) -> Result<String, NotFound> {
    std::thread::sleep(Duration::from_micros(200 + u64::from(id % 7) * 50));
    if id.is_multiple_of(10) {
        Err(NotFound)
    } else {
        Ok(format!("user-{id}"))
    }
}

/// Async fns too: timed from the first poll to completion.
#[laptime_core::capture(name = "Billing.charge")]
async fn charge(cents: u64) -> u64 {
    cents + 30
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(".laptime-rust-example", Options::default())?;
    // Spans of code already instrumented with `tracing` become calls, events become logs.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(LaptimeLayer::new(store.clone())),
    )?;
    postmortem::install_panic_hook(
        store.clone(),
        PostMortemOptions::default(),
        Duration::from_secs(2),
    );

    for i in 0..300u32 {
        let _ = find_user(i);
        // An RAII guard times any scope.
        let _t = capture::time("Cart.total");
        let span = tracing::info_span!("handle_request", route = "/checkout");
        let _entered = span.enter();
        if i % 50 == 0 {
            tracing::warn!(request = i, "slow upstream");
        }
        let _ = block_on(charge(u64::from(i)));
    }
    capture::flush();
    store.flush()?;

    let result = store.view()?.query(&Query {
        filter: "kind:call".parse()?,
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Count,
            Aggregate::ErrorRate,
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.99),
        ],
        order_by: Some(OrderBy {
            key: OrderKey::Aggregate(3),
            descending: true,
        }),
        ..Query::default()
    })?;
    println!(
        "{:<34} {:>6} {:>7} {:>10} {:>10}",
        "name", "count", "errors", "p50", "p99"
    );
    for row in &result.rows {
        let v = |i: usize| row.values[i].as_f64().unwrap_or(0.0);
        println!(
            "{:<34} {:>6} {:>6.1}% {:>8.1}µs {:>8.1}µs",
            row.key[0].to_string(),
            v(0),
            v(1) * 100.0,
            v(2) / 1e3,
            v(3) / 1e3
        );
    }
    store.close()?;
    Ok(())
}

/// Enough of an executor for this example (no runtime dependency): poll until ready.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
