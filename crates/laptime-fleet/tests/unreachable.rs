//! The startup check fails within its deadline, naming the bootstrap list, when no broker answers
//! (needs no Kafka); and names the topic when a live broker does not have it (needs Kafka).

mod kafka_env;

use std::time::{Duration, Instant};

use laptime_fleet::kafka::{Consumer, ConsumerConfig, Error, Producer, ProducerConfig};

// Nothing listens on these ports (port 1 and 9 are privileged and unused here).
const DEAD: &str = "127.0.0.1:1,127.0.0.1:9";
const DEADLINE: Duration = Duration::from_secs(3);
// Time to create the client and for the last metadata attempt to return.
const SLACK: Duration = Duration::from_secs(3);

fn assert_unreachable(r: Result<(), Error>, started: Instant, what: &str) {
    let took = started.elapsed();
    let err = r.expect_err("connect succeeded with no broker running");
    assert!(matches!(err, Error::Unreachable { .. }), "{what}: {err:?}");
    let text = err.to_string();
    assert!(
        text.contains(DEAD),
        "{what}: error does not name the brokers: {text}"
    );
    assert!(
        text.contains("laptime-none"),
        "{what}: error does not name the topic: {text}"
    );
    assert!(
        took >= DEADLINE,
        "{what}: gave up after {took:?}, before its deadline"
    );
    assert!(
        took < DEADLINE + SLACK,
        "{what}: took {took:?} for a {DEADLINE:?} deadline"
    );
}

#[test]
fn producer_startup_check_fails_in_time_naming_the_brokers() {
    let mut cfg = ProducerConfig::new(DEAD, "laptime-none");
    cfg.startup_timeout = DEADLINE;
    let started = Instant::now();
    assert_unreachable(Producer::connect(&cfg).map(drop), started, "producer");
}

#[test]
fn consumer_startup_check_fails_in_time_naming_the_brokers() {
    let mut cfg = ConsumerConfig::new(DEAD, "laptime-none-group", "laptime-none");
    cfg.startup_timeout = DEADLINE;
    let started = Instant::now();
    assert_unreachable(Consumer::connect(&cfg, None).map(drop), started, "consumer");
}

#[test]
fn missing_topic_on_a_live_broker_is_named() {
    let Some(bs) = kafka_env::bootstrap("missing_topic") else {
        return;
    };
    let topic = kafka_env::unique("laptime-missing");
    let mut cfg = ProducerConfig::new(&bs, &topic);
    cfg.startup_timeout = DEADLINE;
    let started = Instant::now();
    let err = Producer::connect(&cfg)
        .map(drop)
        .expect_err("connected to a topic nobody created");
    assert!(started.elapsed() < DEADLINE + SLACK);
    assert!(matches!(err, Error::Topic { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&topic) && text.contains(&bs), "{text}");
}
