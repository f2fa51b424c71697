//! `laptime-fleet coordinate`: one query over every indexer (`POST /v1/query`).

use std::sync::Arc;
use std::time::Duration;

use laptime_fleet::coordinate::{Coordinator, CoordinatorConfig, CoordinatorServer, ServeConfig};

use crate::args::Args;
use crate::process::runtime;

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(
        argv,
        &["listen", "indexers", "token", "indexer-token", "timeout-ms"],
    )?;
    let listen = args.addr("listen")?.ok_or("--listen is required")?;
    let indexers: Vec<String> = args
        .need("indexers")?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut config = CoordinatorConfig::new(indexers);
    config.token = args.get("indexer-token").map(str::to_owned);
    if let Some(ms) = args.number("timeout-ms")? {
        config.timeout = Duration::from_millis(ms);
    }
    let coordinator = Arc::new(Coordinator::new(config).map_err(|e| e.to_string())?);
    let mut serve = ServeConfig::new(listen);
    serve.token = args.get("token").map(str::to_owned);
    runtime(2)?.block_on(async move {
        let server = CoordinatorServer::start(serve, Arc::clone(&coordinator))
            .await
            .map_err(|e| e.to_string())?;
        let indexers: Vec<&str> = coordinator.indexers().collect();
        println!(
            "laptime-fleet coordinate: listening on http://{}, indexers {}",
            server.local_addr(),
            indexers.join(",")
        );
        std::future::pending::<()>().await;
        Ok(())
    })
}
