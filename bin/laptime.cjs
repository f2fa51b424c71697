#!/usr/bin/env node
'use strict';
// The `laptime` command (package.json "bin"): see src/cli/main.ts, or run `laptime --help`.
require('../src/cli/main.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
