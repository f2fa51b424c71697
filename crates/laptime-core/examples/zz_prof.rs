use laptime_core::query::{self, Aggregate, GroupBy, Precision, Query};
use laptime_core::Snapshot;
fn main() {
    let snap = Snapshot::open_read_only(std::path::Path::new("/tmp/r1s20")).unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let q = Query {
        filter: laptime_core::filter::parse(if mode == "field" {
            "kind:call route:/api/v1/sessions"
        } else {
            "kind:call"
        })
        .unwrap(),
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.9),
            Aggregate::Percentile(0.99),
        ],
        precision: if mode == "sketch" {
            Precision::Auto
        } else {
            Precision::Exact
        },
        threads: 2,
        ..Query::default()
    };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let r = query::run(&snap, &q).unwrap();
        eprintln!("{:?} {:?}", t.elapsed(), r.stats);
    }
    let t = std::time::Instant::now();
    for _ in 0..20 {
        query::run(&snap, &q).unwrap();
    }
    eprintln!("20 runs {:?}", t.elapsed());
}
