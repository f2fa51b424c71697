//! Who committed a partition how far. Every indexer commit of a partition carries, in the metadata
//! Kafka keeps beside the committed offset, the last offset each recent member committed for that
//! partition; a member taking the partition over reads it and carries it forward in its own
//! commits. An indexer that died between committing and storing (its pending log holds messages
//! it may or may not have committed) reads its own entry to learn which of its commits took
//! effect: those messages are its alone to store, the rest belong to whoever reads the partition
//! next (ARCHITECTURE.md "The fleet", exactly once across indexers).
//!
//! ```text
//! laptime-ledger/1 <member key hex>:<offset>,<member key hex>:<offset>,...   most recent first
//! ```

/// Text the metadata starts with.
const PREFIX: &str = "laptime-ledger/1 ";
/// Entries kept: with 16 hex digits and offsets below 10^19 an entry is at most 37 bytes, so the
/// metadata stays under the brokers' default `offset.metadata.max.bytes` (4096). A member stays
/// in the ledger until 64 other members committed the partition after it.
pub const MAX_ENTRIES: usize = 64;

/// A member's key in a ledger: FNV-1a of its member name (names are up to 200 bytes; keys keep
/// the metadata small; a collision among a group's members is 2^-64-unlikely).
pub fn member_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The ledger of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// (member key, offset it committed last), most recent first, keys distinct.
    entries: Vec<(u64, i64)>,
}

/// Metadata that is not a ledger (another client committed with this group, or it was damaged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("commit metadata is not a laptime ledger ({why}): {shown:?}")]
pub struct NotALedger {
    why: &'static str,
    /// The start of the metadata, for the message.
    shown: String,
}

impl Ledger {
    /// The ledger in `metadata`. Empty metadata (nothing committed yet, or committed without a
    /// ledger) is an empty ledger.
    pub fn parse(metadata: &str) -> Result<Ledger, NotALedger> {
        if metadata.is_empty() {
            return Ok(Ledger::default());
        }
        let bad = |why| NotALedger {
            why,
            shown: metadata.chars().take(80).collect(),
        };
        let body = metadata
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("no laptime-ledger/1 prefix"))?;
        let mut entries: Vec<(u64, i64)> = Vec::new();
        for item in body.split(',').filter(|i| !i.is_empty()) {
            let (key, offset) = item
                .split_once(':')
                .ok_or_else(|| bad("an entry without ':'"))?;
            if key.len() != 16 {
                return Err(bad("a member key that is not 16 hex digits"));
            }
            let key =
                u64::from_str_radix(key, 16).map_err(|_| bad("a member key that is not hex"))?;
            let offset: i64 = offset
                .parse()
                .map_err(|_| bad("an offset that is not a number"))?;
            if offset < 0 {
                return Err(bad("a negative offset"));
            }
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(bad("a member named twice"));
            }
            entries.push((key, offset));
        }
        if entries.len() > MAX_ENTRIES {
            return Err(bad("more entries than a ledger keeps"));
        }
        Ok(Ledger { entries })
    }

    /// The offset `member` committed last, if the ledger still names it.
    pub fn of(&self, member: u64) -> Option<i64> {
        self.entries
            .iter()
            .find(|(k, _)| *k == member)
            .map(|(_, o)| *o)
    }

    /// This ledger after `member` committed `offset`: its entry first, the oldest dropped beyond
    /// [`MAX_ENTRIES`].
    pub fn with(&self, member: u64, offset: i64) -> Ledger {
        let mut entries = Vec::with_capacity(self.entries.len() + 1);
        entries.push((member, offset));
        entries.extend(self.entries.iter().filter(|(k, _)| *k != member));
        entries.truncate(MAX_ENTRIES);
        Ledger { entries }
    }

    /// The metadata text.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(PREFIX.len() + self.entries.len() * 28);
        out.push_str(PREFIX);
        for (i, (key, offset)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{key:016x}:{offset}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_reads_back_what_it_wrote_most_recent_first() {
        let (a, b) = (member_key("laptime-index-a"), member_key("laptime-index-b"));
        assert_ne!(a, b);
        let l = Ledger::default().with(a, 10).with(b, 25).with(a, 40);
        assert_eq!(l.of(a), Some(40));
        assert_eq!(l.of(b), Some(25));
        assert_eq!(l.of(member_key("other")), None);
        let text = l.encode();
        assert!(text.starts_with("laptime-ledger/1 "), "{text}");
        assert_eq!(Ledger::parse(&text).unwrap(), l);
        assert_eq!(Ledger::parse("").unwrap(), Ledger::default());
    }

    #[test]
    fn a_full_ledger_drops_its_oldest_member_and_fits_the_brokers_metadata_limit() {
        let mut l = Ledger::default();
        for m in 0..(MAX_ENTRIES as u64 + 10) {
            l = l.with(member_key(&format!("member-{m}")), i64::MAX - m as i64);
        }
        assert_eq!(l.entries.len(), MAX_ENTRIES);
        assert_eq!(l.of(member_key("member-0")), None, "the oldest went");
        assert!(l.of(member_key("member-73")).is_some());
        let text = l.encode();
        assert!(text.len() <= 4096, "{} bytes", text.len());
        assert_eq!(Ledger::parse(&text).unwrap(), l);
    }

    #[test]
    fn metadata_that_is_not_a_ledger_is_refused_with_what_is_wrong() {
        let k = format!("{:016x}", member_key("m"));
        for (text, why) in [
            ("hello", "prefix"),
            ("laptime-ledger/2 x", "prefix"),
            ("laptime-ledger/1 abc", "without ':'"),
            ("laptime-ledger/1 12:5", "16 hex digits"),
            ("laptime-ledger/1 zzzzzzzzzzzzzzzz:5", "not hex"),
            (&format!("laptime-ledger/1 {k}:five"), "not a number"),
            (&format!("laptime-ledger/1 {k}:-1"), "negative"),
            (
                &format!("laptime-ledger/1 {k}:99999999999999999999"),
                "not a number",
            ),
            (&format!("laptime-ledger/1 {k}:1,{k}:2"), "twice"),
        ] {
            let e = Ledger::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
        }
        let many: Vec<String> = (0..=MAX_ENTRIES)
            .map(|m| format!("{:016x}:1", member_key(&m.to_string())))
            .collect();
        let e = Ledger::parse(&format!("laptime-ledger/1 {}", many.join(",")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more entries"), "{e}");
    }
}
