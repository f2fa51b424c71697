/**
 * laptime: know how fast every function of your production service really is.
 *
 * Mark functions with `@capture()` (or wrap them with `capture(fn)`); every call's start, duration
 * and outcome goes into an embedded store on local disk (the default one at `$LAPTIME_DIR` or
 * `./.laptime`), and `stats()` answers counts, error counts and p50/p90/p99 per function.
 *
 * @example
 * import { capture, defaultStore } from 'laptime';
 *
 * class UserService {
 *   @capture() async find(id: string) { return db.users.get(id); }
 * }
 *
 * const { rows } = await defaultStore().stats({ since: '1h' });
 * for (const r of rows) console.log(r.name, r.count, r.errors, (r.p99 ?? 0) / 1e6, 'ms');
 */
export type {
  AnomaliesOptions,
  Anomaly,
  AnomalyMetric,
  CompareOptions,
  CompareReport,
  FunctionComparison,
  PercentileChange,
  TimeRange,
} from './src/analysis';
export { capture } from './src/capture';
export type { CaptureDecorator, CaptureOptions } from './src/capture';
export { defaultStore, setDefaultStore } from './src/default-store';
export type { FieldValue, Fields } from './src/fields';
export { log, logger } from './src/log';
export { mark } from './src/mark';
export type { MarkOptions } from './src/mark';
export type { LogFields, Logger, LogLevel } from './src/logger';
export type { NativeOptions, OverflowMode, SyncMode } from './src/native';
export type { OpenOptions } from './src/options';
export type { FunctionStats, StatsQuery, StatsReport, StoreCounters } from './src/stats';
export { ERROR_CODES, isLaptimeError } from './src/errors';
export type { LaptimeError, LaptimeErrorCode } from './src/errors';
export { FilterSyntaxError } from './src/filter-text';
export type { SyntaxErrorCode } from './src/grammar';
export { Query } from './src/query';
export type {
  Comparison,
  EventsOptions,
  EventsPage,
  HistogramOptions,
  LatencyHistogram,
  FieldKeyValue,
  Level,
  QueryResult,
  QueryRow,
  QueryStats,
  StoredEvent,
} from './src/query';
export { exportParquet } from './src/export';
export { maintainStore, verifyStore } from './src/maintenance';
export { metricsHandler, metricsText } from './src/metrics';
export type { MetricsOptions, MetricsRequest, MetricsResponse } from './src/metrics';
export type { FileCheck, Maintained, VerifyReport } from './src/maintenance';
export { openReader, Reader } from './src/reader';
export { openFleet, Fleet, FleetError } from './src/fleet';
export type { FleetOptions } from './src/fleet';
export type { Coverage, IndexerReport } from './src/coverage';
export { readPostMortem, readSnapshot } from './src/post-mortem';
export type { PostMortemFile, PostMortemSettings, SnapshotFile, SnapshotSettings } from './src/post-mortem';
export type { ReaderOptions } from './src/reader';
export type { ReadApi } from './src/reads';
export { open, Store } from './src/store';
export type { RecordedEvent } from './src/store';
export type { TimeBound } from './src/time';
