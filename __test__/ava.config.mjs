// ava configuration, used through `ava --config __test__/ava.config.mjs` (scripts/test-node.mjs).
// Tests are TypeScript run by tsx; TSX_TSCONFIG_PATH (set per run) selects the decorator mode.
// Each test file runs in its own child process (workerThreads: false) because the tests exercise
// process hooks, signals and worker_threads.
export default {
  files: ['__test__/**/*.test.ts'],
  extensions: { ts: 'commonjs' },
  nodeArguments: ['--import', 'tsx'],
  workerThreads: false,
  timeout: '60s',
};
