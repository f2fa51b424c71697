//! `laptime-fleet index`: a consumer-group member storing into its own store, and (with
//! `--listen`) that store's read server for the coordinator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::coordinate::{ReadServer, ServeConfig};
use laptime_fleet::kafka::ConsumerConfig;
use laptime_fleet::pipeline::{member_name, IndexConfig, Indexer};
use laptime_storage::{Options, SyncPolicy};

use crate::args::Args;
use crate::process::{runtime, stop_on_signal};

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(
        argv,
        &[
            "dir",
            "brokers",
            "topic",
            "group",
            "listen",
            "token",
            "id",
            "session-timeout-s",
        ],
    )?;
    let config = IndexConfig::new(args.need("dir")?);
    // A static member named after the store (its `index-member` file) unless --id names it: an
    // indexer restarted on its store gets its partitions back (see the crate doc).
    let id = match args.get("id") {
        Some(id) => id.to_owned(),
        None => member_name(&config.dir).map_err(|e| e.to_string())?,
    };
    let mut consumer = ConsumerConfig::new(
        args.need("brokers")?,
        args.need("group")?,
        args.need("topic")?,
    )
    .static_member(&id);
    if let Some(s) = args.number("session-timeout-s")? {
        consumer.session_timeout = Duration::from_secs(s);
    }
    let serve = args.addr("listen")?.map(|listen| {
        let mut c = ServeConfig::new(listen);
        c.token = args.get("token").map(str::to_owned);
        c
    });
    let options = Options {
        sync: SyncPolicy::Always,
        ..Options::default()
    };
    let mut indexer =
        Indexer::start(config.clone(), &consumer, options).map_err(|e| e.to_string())?;

    // The read server runs on its own runtime thread; queries take fresh views of the store.
    let listening = match serve {
        None => None,
        Some(serve) => {
            let store = Arc::new(indexer.store());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("laptime-read".into())
                .spawn(move || {
                    let rt = match runtime(2) {
                        Ok(rt) => rt,
                        Err(e) => return tx.send(Err(e)).unwrap_or(()),
                    };
                    rt.block_on(async move {
                        match ReadServer::start(serve, store).await {
                            Err(e) => tx.send(Err(e.to_string())).unwrap_or(()),
                            Ok(server) => {
                                tx.send(Ok(server.local_addr())).unwrap_or(());
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                })
                .map_err(|e| format!("starting the read server thread: {e}"))?;
            Some(
                rx.recv()
                    .map_err(|_| "the read server thread ended".to_owned())??,
            )
        }
    };
    println!(
        "laptime-fleet index: store {}, brokers {}, topic {}, group {}, member {}, read server {}",
        config.dir.display(),
        consumer.brokers,
        consumer.topic,
        consumer.group,
        id,
        listening.map_or_else(|| "off".to_owned(), |a| format!("http://{a}"))
    );

    let stats = indexer.stats_handle();
    let started = Instant::now();
    std::thread::Builder::new()
        .name("laptime-counters".into())
        .spawn(move || {
            let (mut before, mut at) = (0, Instant::now());
            loop {
                std::thread::sleep(Duration::from_secs(10));
                let s = stats.get();
                let rate = (s.events - before) as f64 / at.elapsed().as_secs_f64();
                (before, at) = (s.events, Instant::now());
                let lag = s.lag.map_or_else(|| "unknown".to_owned(), |l| l.to_string());
                println!(
                    "laptime-fleet index: {} events stored ({rate:.0}/s) from {} messages, lag {lag} messages, {} pending commit, {} given up to other members, {} duplicates dropped, {} overlapping, {} bad messages, {} commits ({} refused) ({:.0?} up)",
                    s.events, s.messages, s.pending, s.given_up, s.duplicates, s.overlaps, s.bad_messages, s.commits, s.commit_failures, started.elapsed()
                );
            }
        })
        .map_err(|e| format!("starting the counters thread: {e}"))?;
    // Runs until SIGTERM/SIGINT (then commits and stores what it took, and exits 0) or until
    // killed (then its pending log is settled when it starts again: see pipeline/index.rs).
    let stop = stop_on_signal()?;
    indexer.run(&stop).map_err(|e| e.to_string())?;
    let s = indexer.stats();
    println!(
        "laptime-fleet index: stopped: {} events stored, everything stored is committed",
        s.events
    );
    Ok(())
}
