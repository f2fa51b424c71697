/** The package's version, for `laptime --version` and the dashboard's `/api/info`. */
export function packageVersion(): string {
  try {
    return (require('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
