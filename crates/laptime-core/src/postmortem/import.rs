//! Post-mortem events back into a store, for tools that read them with the query engine.

use std::path::Path;

use super::PostMortem;
use crate::{Error, Result};

/// Load the events of a post-mortem into a fresh store at `dir` (for tools that read post-mortems with
/// the query engine: `laptime view`, the dashboard). Returns the number of events.
pub fn import(pm: &PostMortem, dir: &Path) -> Result<u64> {
    let store = crate::Store::open(
        dir,
        crate::Options {
            sync: crate::SyncPolicy::None,
            overflow: crate::Overflow::Block {
                timeout: std::time::Duration::from_secs(60),
            },
            ..crate::Options::default()
        },
    )?;
    let mut batch = crate::Batch::default();
    for e in &pm.events {
        let row = batch.push(store.intern(&e.name)?, e.start_ns, e.duration_ns, e.code);
        if let Some(m) = &e.message {
            batch.set_message(row, m)?;
        }
        for (k, v) in &e.fields {
            batch.add_field_at(row, store.intern(k)?, v.clone())?;
        }
        if batch.len() >= 4096 {
            store.append(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        store.append(batch);
    }
    let dropped = store.counters().dropped;
    store.close()?;
    if dropped > 0 {
        return Err(Error::InvalidInput {
            what: "post-mortem import",
            reason: format!("{dropped} events could not be stored"),
        });
    }
    Ok(pm.events.len() as u64)
}
