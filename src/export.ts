/**
 * Exporting events to files other tools read: Parquet (DuckDB, pandas/pyarrow, Spark). The writing
 * happens in the addon, off the event loop; the file appears whole or not at all.
 */
import { checkFilter } from './filter-text';
import { nativeBinding } from './native';
import { show } from './describe';

/**
 * Write every event of the store in `dir` that passes `filter` (the filter syntax) to the Parquet
 * file `out`, oldest first. Columns: `start_ns` (timestamp, ns), `name`, `duration_ns`, `kind`,
 * `status`, `level`, `message`, `fields` (JSON). Resolves to the number of events written.
 *
 * @example
 * const n = await exportParquet('./.laptime', 'name:UserService.* since:1d', 'events.parquet');
 */
export async function exportParquet(dir: string, filter: string, out: string): Promise<number> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`laptime: exportParquet needs a store directory, got ${show(dir)}`);
  if (typeof out !== 'string' || out === '') throw new TypeError(`laptime: exportParquet needs an output file, got ${show(out)}`);
  const binding = nativeBinding();
  if (binding === null) throw new Error('laptime: the native addon is unavailable, so stores cannot be exported');
  checkFilter(filter);
  return binding.exportParquet(dir, filter, out);
}
