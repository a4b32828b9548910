#!/usr/bin/env node
import { runCli } from './cli.js'

// The exit code is set, never forced with process.exit(): `dev` and `worker` return only once
// their jobs are released and the store is closed, and stdout may still be flushing into a pipe.
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
})
