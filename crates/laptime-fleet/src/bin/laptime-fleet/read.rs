//! `laptime-fleet read-server`: a store's read server alone (`POST /v1/partial`), for a coordinator.
//! It reads the store as it is on disk (a fresh view per query, so it sees what writers add) and
//! writes nothing: beside an indexer run as its own process, or on an app host whose local store
//! a coordinator should query directly, without Kafka.

use std::sync::Arc;

use laptime_fleet::coordinate::{ReadServer, ServeConfig};
use laptime_storage::Reader;

use crate::args::Args;
use crate::process::runtime;

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["dir", "listen", "token"])?;
    let dir = args.need("dir")?;
    let listen = args.addr("listen")?.ok_or("--listen is required")?;
    let reader = Reader::open(dir, None).map_err(|e| format!("store {dir}: {e}"))?;
    let mut serve = ServeConfig::new(listen);
    serve.token = args.get("token").map(str::to_owned);
    runtime(2)?.block_on(async move {
        let server = ReadServer::start(serve, Arc::new(reader))
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "laptime-fleet read-server: store {dir}, read server http://{}",
            server.local_addr()
        );
        std::future::pending::<()>().await;
        Ok(())
    })
}
