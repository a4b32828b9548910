import { expect, test } from 'vitest'
import { lines, runCli } from './cli-process.js'

const COMMANDS = ['dev', 'worker', 'serve', 'enqueue', 'jobs', 'job', 'retry', 'cancel', 'schedules', 'migrate', 'copy']

test('--help lists every command, the global options, exit codes and examples', async () => {
  const { code, stdout, stderr } = await runCli(['--help'])
  expect(code).toBe(0)
  expect(stderr).toBe('')
  for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'))
  expect(stdout).toContain('--store <url>')
  expect(stdout).toContain('--json')
  expect(stdout).toContain('OFFLOAD_STORE')
  expect(stdout).toContain('Exit codes')
  expect(stdout).toContain('Examples:')
})

test.each(COMMANDS)("'%s --help' shows its usage, options and examples, and touches nothing", async (command) => {
  const { code, stdout, stderr } = await runCli([command, '--help', '--store', 'sqlite:/nonexistent/dir/never-created.db'])
  expect(code).toBe(0)
  expect(stderr).toBe('')
  expect(stdout).toContain(`Usage: offload ${command}`)
  expect(stdout).toContain('Global options:')
  expect(stdout).toMatch(/Examples:\n {2}offload /)
})

test("'-h', 'help <command>' and '--version'", async () => {
  const [short, help, version] = await Promise.all([runCli(['jobs', '-h']), runCli(['help', 'enqueue']), runCli(['--version'])])
  expect(short.code).toBe(0)
  expect(short.stdout).toContain('Usage: offload jobs')
  expect(help.code).toBe(0)
  expect(help.stdout).toContain('--wait-timeout <duration>')
  expect(version.code).toBe(0)
  expect(lines(version.stdout)).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+/)])
})

test('no command prints the help on stderr and exits 2', async () => {
  const { code, stdout, stderr } = await runCli([])
  expect(code).toBe(2)
  expect(stdout).toBe('')
  expect(stderr).toContain('Usage: offload <command>')
})
