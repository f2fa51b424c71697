//! A shipper's view of a store: per partition, the sealed pages it has not shipped yet, as
//! messages, and the durable record of how far it got (see `cursor.rs`). Only sealed pages are
//! shipped: they never change (compaction leaves unshipped ones alone), so a message that is sent
//! again after a crash carries exactly the same events with the same seqs, and the receiver can
//! drop it by its seqs. Events not yet in a sealed page wait at most `page_max_age` (2 s).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Error, Result};
use crate::partition;
use crate::scan::{ScanFilter, View};

use super::message::encode_message;
use crate::ship_cursor::{self as cursor, SHIP_DIR};

/// What a feed found for one partition: a message of its next sealed pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    /// The events' source id: the partition's id.
    pub source: String,
    /// Seq of the first event shipped (or, with no page, where the cursor moves).
    pub first_seq: u64,
    /// Seq one past the last event shipped: what to [`Feed::commit`] once acknowledged.
    pub end_seq: u64,
    /// Events in `message`.
    pub rows: u64,
    /// The message ([`super::encode_message`]); empty when no page could be shipped (only
    /// missed events).
    pub message: Vec<u8>,
    /// Events between the cursor and `end_seq` this feed will never ship: removed by retention
    /// before they were shipped, or in a page whose checksum failed. Counted, never silent.
    pub missed: u64,
    /// Events in `message` below the cursor, already shipped once (a page re-packed across the
    /// cursor; compaction avoids it, so only stores changed by older versions or by hand).
    pub again: u64,
}

/// A named feed of the store at `root` (one per destination, e.g. a Kafka topic).
#[derive(Debug)]
pub struct Feed {
    root: PathBuf,
    dir: PathBuf,
    cursors: BTreeMap<String, u64>,
    /// Held while the feed is open: one shipper per feed, so two never move its cursors apart.
    _lock: std::fs::File,
}

impl Feed {
    /// Open (creating on first use) feed `name` of the store at `root`, for this process alone
    /// (another process shipping the same feed is an error naming it). A cursor file that fails
    /// its checks is an error naming it: a shipper must not guess how far it got.
    pub fn open(root: &Path, name: &str) -> Result<Feed> {
        partition::require_store(root)?;
        cursor::check_feed_name(name)?;
        let ship = root.join(SHIP_DIR);
        durable::create_dir_durable(&ship)?;
        let dir = ship.join(name);
        durable::create_dir_durable(&dir)?;
        let Some(lock) = partition::try_lock(&dir)? else {
            return Err(Error::InvalidInput {
                what: "feed",
                reason: format!(
                    "feed {name:?} of the store {} is being shipped by another process (it holds {})",
                    root.display(),
                    dir.join("LOCK").display()
                ),
            });
        };
        let cursors = cursor::read_all(&dir)?;
        Ok(Feed {
            root: root.to_owned(),
            dir,
            cursors,
            _lock: lock,
        })
    }

    /// The store this feed reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The first seq of `source` not shipped yet.
    pub fn next_seq(&self, source: &str) -> u64 {
        self.cursors.get(source).copied().unwrap_or(0)
    }

    /// Every partition's cursor (partition id -> first seq not shipped).
    pub fn cursors(&self) -> &BTreeMap<String, u64> {
        &self.cursors
    }

    /// For every partition of `view` with sealed pages past its cursor, a shipment of its next
    /// consecutive pages: at least one page, and no more once `max_rows` events are reached.
    pub fn pending(&self, view: &View, max_rows: u64) -> Result<Vec<Shipment>> {
        let mut pages = view.pages(&ScanFilter::default());
        pages.retain(|p| p.is_sealed());
        pages.sort_by_key(|p| (p.partition(), p.zone().first_seq));
        let mut out = Vec::new();
        let mut bytes: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        while i < pages.len() {
            let part = pages[i].partition();
            let source = view.partition_id(part).unwrap_or_default().to_owned();
            let next = self.next_seq(&source);
            bytes.clear();
            let mut shipment = Shipment {
                source,
                first_seq: next,
                end_seq: next,
                rows: 0,
                message: Vec::new(),
                missed: 0,
                again: 0,
            };
            while i < pages.len() && pages[i].partition() == part {
                let page = &pages[i];
                let meta = *page.zone();
                if meta.end_seq() <= shipment.end_seq {
                    i += 1; // shipped already
                    continue;
                }
                if shipment.rows >= max_rows.max(1) {
                    break;
                }
                let mut raw = Vec::new();
                let read = match view.raw_page(page, &mut raw) {
                    Ok(read) => read,
                    // A damaged page is skipped and counted: waiting would stop the feed for good.
                    Err(e) if e.code() == crate::ErrorCode::Corrupt => {
                        if shipment.rows > 0 {
                            break; // a message's pages are consecutive: it goes in the next one
                        }
                        view.skip_damaged(page, e)?;
                        shipment.missed += meta.end_seq() - shipment.end_seq;
                        shipment.end_seq = meta.end_seq();
                        shipment.first_seq = shipment.end_seq;
                        i += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if !read {
                    i += 1;
                    continue;
                }
                if meta.first_seq > shipment.end_seq {
                    // Seqs no page holds: retention removed them before they were shipped.
                    if shipment.rows > 0 {
                        break;
                    }
                    shipment.missed += meta.first_seq - shipment.end_seq;
                } else if meta.first_seq < shipment.end_seq {
                    shipment.again += shipment.end_seq - meta.first_seq;
                }
                if shipment.rows == 0 {
                    shipment.first_seq = meta.first_seq;
                }
                shipment.rows += u64::from(meta.rows);
                shipment.end_seq = meta.end_seq();
                bytes.push(raw);
                i += 1;
            }
            // Skip the rest of this partition's pages (they go in a later shipment).
            while i < pages.len() && pages[i].partition() == part {
                i += 1;
            }
            if shipment.end_seq > next {
                if !bytes.is_empty() {
                    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
                    encode_message(&shipment.source, &refs, &mut shipment.message);
                }
                out.push(shipment);
            }
        }
        Ok(out)
    }

    /// Record durably that `source` is shipped up to (not including) `end_seq`. Cursors only move
    /// forward: an older `end_seq` is ignored.
    pub fn commit(&mut self, source: &str, end_seq: u64) -> Result<()> {
        if source.is_empty() || source.contains(['/', '\\']) || source.starts_with('.') {
            return Err(Error::InvalidInput {
                what: "source",
                reason: format!("{source:?} is no partition id"),
            });
        }
        if end_seq <= self.next_seq(source) {
            return Ok(());
        }
        durable::write_atomic(
            &cursor::path_of(&self.dir, source),
            &cursor::encode(end_seq),
        )?;
        self.cursors.insert(source.to_owned(), end_seq);
        Ok(())
    }
}
