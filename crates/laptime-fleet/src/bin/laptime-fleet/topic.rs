//! `laptime-fleet topic`: create the fleet's topic with the settings it needs (replication 3 and
//! `min.insync.replicas=2` when there are three brokers or more, messages up to 16 MiB).

use std::time::Duration;

use laptime_fleet::kafka::{create_topic, TopicSpec};

use crate::args::Args;

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["brokers", "topic", "partitions", "replication"])?;
    let brokers = args.need("brokers")?;
    let topic = args.need("topic")?;
    let partitions = args.number("partitions")?.unwrap_or(6);
    let listed = brokers.split(',').filter(|b| !b.trim().is_empty()).count() as u64;
    let replication = args.number("replication")?.unwrap_or(listed.min(3));
    let to_i32 = |what: &str, n: u64| {
        i32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("--{what} must be 1 to {}, got {n}", i32::MAX))
    };
    let mut spec = TopicSpec::new(
        topic,
        to_i32("partitions", partitions)?,
        to_i32("replication", replication)?,
    );
    // One copy may be down while writes go on; never acknowledged on a single copy.
    spec.min_insync_replicas = Some(if spec.replication >= 3 { 2 } else { 1 });
    let created =
        create_topic(brokers, &spec, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    if created {
        println!(
            "laptime-fleet topic: {topic} on {brokers}: created ({} partitions, replication {}, min.insync.replicas {})",
            spec.partitions,
            spec.replication,
            spec.min_insync_replicas.unwrap_or(1)
        );
    } else {
        println!("laptime-fleet topic: {topic} on {brokers}: exists already (left as it is)");
    }
    Ok(())
}
