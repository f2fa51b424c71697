// ava configuration, used through `ava --config __test__/ava.config.mjs` (scripts/test-node.mjs).
// Tests are TypeScript run by tsx; TSX_TSCONFIG_PATH (set per run) selects the decorator mode.
// Each test file runs in its own child process (workerThreads: false) because the tests exercise
// process hooks, signals and worker_threads.
export default {
  files: ['__test__/**/*.test.ts'],
  extensions: { ts: 'commonjs' },
  nodeArguments: ['--import', 'tsx'],
  workerThreads: false,
  // Many suites store events at fixed past instants (stable buckets); the default 30-day age limit
  // would drop them once those instants are old enough. __test__/defaults.test.ts covers the default.
  environmentVariables: { LAPTIME_RETENTION_MAX_AGE: 'off' },
  timeout: '60s',
};
