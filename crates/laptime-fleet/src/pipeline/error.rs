use std::path::PathBuf;

/// What stops a shipper or an indexer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store (opening it, reading it, writing the cursors or events) failed.
    #[error("store {dir}: {source}")]
    Store {
        dir: PathBuf,
        #[source]
        source: laptime_storage::Error,
    },
    /// The indexer's member name file could not be read or written.
    #[error("indexer member name file {path}: {source}")]
    Member {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Kafka failed (unreachable at start, a fatal client error, a refused commit).
    #[error(transparent)]
    Kafka(#[from] crate::kafka::Error),
    /// The store would not take received events for a minute (its writer is stuck, e.g. a full
    /// disk); nothing was committed, Kafka keeps the messages.
    #[error("store {dir} did not take received events (writer stuck or store closed); offsets not committed")]
    StoreStuck { dir: PathBuf },
}

impl Error {
    pub(crate) fn store(
        dir: &std::path::Path,
    ) -> impl FnOnce(laptime_storage::Error) -> Error + '_ {
        move |source| Error::Store {
            dir: dir.to_owned(),
            source,
        }
    }
}
