//! The filter language (`name:Svc.* duration>10ms -status:error ...`) and durations. A filter that
//! parses must print as text that parses back to the same filter.
#![no_main]

use laptime_core::filter::{parse, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_duration(text);
    if let Ok(f) = parse(text) {
        let printed = f.to_string();
        match parse(&printed) {
            Ok(g) => assert_eq!(g, f, "{text:?} printed as {printed:?} parses differently"),
            Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
        }
    }
});
