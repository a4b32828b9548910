#!/usr/bin/env node
import { runCli } from './cli.js'

// `offload jobs | head` closes the pipe before the table ends: the reader has what it wanted,
// which is not an error worth a stack trace. Later writes to the closed stream fail the same way.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error
  })
}

// The exit code is set, never forced with process.exit(): `dev` and `worker` return only once
// their jobs are released and the store is closed, and stdout may still be flushing into a pipe.
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
})
