/**
 * Which indexers of a fleet an answer covers (the coordinator's report, `coverage` in its JSON).
 * Its own module: both the query builder and the fleet client speak of it.
 */

/** One indexer's part in an answer. */
export interface IndexerReport {
  /** Its read server's URL, as the coordinator was given it. */
  url: string;
  /** `answered`, or why not: `timeout`, `unreachable`, `failed`, `bad answer`. */
  outcome: string;
  /** Time until its answer (or the failure), ms. */
  ms: number;
  /** Why it did not answer (absent when it did). */
  reason?: string;
}

/** Which indexers an answer covers: `answered` of `asked`; incomplete answers miss their events. */
export interface Coverage {
  answered: number;
  asked: number;
  complete: boolean;
  /** e.g. "2 of 3 indexers answered (http://10.0.0.7:7071: timeout after 5s)". */
  summary: string;
  indexers: IndexerReport[];
}
