// Cabinet vs. the design note's Express + multer server: upload and download throughput,
// latency and Cabinet's memory, measured with a low-CPU load generator on loopback only.
//
//   npm run bench            (builds, then runs this file; about 5 minutes)
//
// Environment (all optional):
//   BENCH_SECONDS=5          length of one measured run
//   BENCH_ROUNDS=3           rounds; each round restarts both servers on fresh data dirs, alternating which goes first
//   BENCH_WARMUP_SECONDS=1   unmeasured run before each scenario's first measurement in a server process
//   BENCH_CONCURRENCY=16     open connections
//   BENCH_IDLE_SECONDS=8     idle gap before the after-idle burst
//   BENCH_IDLE_SCENARIOS=dl-1m  download scenarios measured after an idle gap (each after its own gap), last round
//   BENCH_SCENARIOS=...      subset of up-64k,up-1m,up-8m,dl-64k,dl-1m,dl-8m
//   BENCH_LOADGEN=autocannon force the fallback load generator (default: wrk, installed with apt-get when root)
//   BENCH_NODE_ARGS="..."    extra node flags for the Cabinet process (e.g. "--cpu-prof --cpu-prof-dir=..."), after those
//                            that package.json's start script gives it (every Cabinet server here runs with those)
//   BENCH_VARIANTS='[{"name":"x","cli":"/abs/dist/cli/index.js","env":{"K":"V"},"nodeArgs":["--flag"]}]'
//                            extra Cabinet builds or settings (e.g. a scratch copy outside the repo) measured in the
//                            same rounds; shown in an extra table against Cabinet as built here. "kind":"baseline"
//                            makes a variant of the baseline instead (e.g. "env":{"BASELINE_FSYNC":"1"}). Default: the
//                            baseline-fsync row, the same baseline made durable (file and folder fsynced), for
//                            comparing like with like; BENCH_VARIANTS='[]' leaves it out
//   BENCH_CABINET_CLI=/abs/.../dist/cli/index.js   run "cabinet" from another build (default: this repo's dist/)
//   BENCH_POSTGRES_S3=1      also measure Cabinet on PostgreSQL + S3 (throwaway PostgreSQL and Ceph RGW started with
//                            scripts/services/, as root), shown against Cabinet on the embedded default; 0 to skip
//   BENCH_WORK_DIR=bench/.work  scratch folder (removed at the end); give concurrent runs different ones
//   BENCH_SERVERS=cabinet,baseline,x   which of the servers above to run (default: all)
//   BENCH_NOISY_CORES=0.3    a run during which other processes used more CPU than this (in cores) is re-run once,
//   BENCH_MAX_RETRIES=4      at most this many times per bench, and only in the first BENCH_BUDGET_SECONDS=300
//
// Servers are started one at a time and only ever listen on 127.0.0.1; everything they store lives in
// bench/.work/, which is removed at the end. Both servers are killed on exit, error or Ctrl-C.
/* global performance */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { crc32, deflateSync } from 'node:zlib'
import { FAIR_USE_OUT_OF_REACH, freePort } from './shared.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BENCH_DIR = join(ROOT, 'bench')
const WORK = process.env.BENCH_WORK_DIR ? resolve(process.env.BENCH_WORK_DIR) : join(BENCH_DIR, '.work')
const DIST = join(ROOT, 'dist')
// Cabinet runs from a copy of dist/ taken at the start, so that someone rebuilding the shared tree mid-bench
// cannot mix two versions into one run. (Its imports still resolve from the repo's node_modules.)
const DIST_SNAPSHOT = join(WORK, 'dist')
const CABINET_CLI = join(DIST_SNAPSHOT, 'cli', 'index.js')
const BASELINE = join(BENCH_DIR, 'baseline-server.cjs')
const WRK_SCRIPT = join(BENCH_DIR, 'wrk.lua')

const KiB = 1024
const MiB = 1024 * KiB

function envNumber(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw}: expected a number ≥ 0`)
  return value
}

// wrk takes whole seconds
const SECONDS = Math.max(1, Math.round(envNumber('BENCH_SECONDS', 5)))
const ROUNDS = Math.max(1, Math.round(envNumber('BENCH_ROUNDS', 3)))
const WARMUP_SECONDS = Math.round(envNumber('BENCH_WARMUP_SECONDS', 1))
const CONCURRENCY = Math.max(1, Math.round(envNumber('BENCH_CONCURRENCY', 16)))
const IDLE_SECONDS = envNumber('BENCH_IDLE_SECONDS', 8)
const THREADS = Math.max(1, Math.min(2, CONCURRENCY))

const SIZES = { '64k': 64 * KiB, '1m': MiB, '8m': 8 * MiB }
const ALL_SCENARIOS = ['up-64k', 'up-1m', 'up-8m', 'dl-64k', 'dl-1m', 'dl-8m'].map((name) => {
  const [kind, size] = name.split('-')
  return { name, kind: kind === 'up' ? 'upload' : 'download', sizeLabel: size, bytes: SIZES[size] }
})
const SCENARIOS = (process.env.BENCH_SCENARIOS ? process.env.BENCH_SCENARIOS.split(',') : ALL_SCENARIOS.map((s) => s.name)).map((name) => {
  const found = ALL_SCENARIOS.find((s) => s.name === name.trim())
  if (!found) throw new Error(`BENCH_SCENARIOS: unknown scenario ${name}`)
  return found
})
const IDLE_SCENARIOS = (process.env.BENCH_IDLE_SCENARIOS ?? 'dl-1m')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((name) => {
    const found = ALL_SCENARIOS.find((s) => s.name === name)
    if (!found || found.kind !== 'download') throw new Error(`BENCH_IDLE_SCENARIOS: ${name} is not a download scenario`)
    return found
  })

const DEFAULT_VARIANTS = '[{"name":"baseline-fsync","kind":"baseline","env":{"BASELINE_FSYNC":"1"}}]'
/** The node flags `npm start` gives Cabinet (the systemd unit gives the same), so the bench runs it as deployed. */
const START_NODE_ARGS = (() => {
  const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start.split(/\s+/)
  if (start[0] !== 'node') throw new Error(`package.json's start script should run node: ${start.join(' ')}`)
  // The flags are the words between `node` and the script, read as src/config.test.ts reads them (which keeps
  // the systemd unit's flags equal to these): the script is the first word ending in .js.
  const script = start.findIndex((word) => word.endsWith('.js'))
  if (script < 0) throw new Error(`package.json's start script names no script: ${start.join(' ')}`)
  return start.slice(1, script)
})()
const SPECS = [
  {
    name: 'cabinet',
    kind: 'cabinet',
    cli: process.env.BENCH_CABINET_CLI || CABINET_CLI,
    env: {},
    nodeArgs: [...START_NODE_ARGS, ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
  },
  { name: 'baseline', kind: 'baseline' },
  ...JSON.parse(process.env.BENCH_VARIANTS ?? DEFAULT_VARIANTS).map((v) => {
    if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(v.name ?? '') || ['cabinet', 'baseline'].includes(v.name)) throw new Error(`BENCH_VARIANTS: bad name ${v.name}`)
    const kind = v.kind === 'baseline' ? 'baseline' : 'cabinet'
    const nodeArgs = [...(kind === 'cabinet' ? START_NODE_ARGS : []), ...(v.nodeArgs ?? [])]
    return { name: v.name, kind, cli: v.cli ?? CABINET_CLI, env: v.env ?? {}, nodeArgs, variant: true }
  }),
  ...(process.env.BENCH_POSTGRES_S3 === '0'
    ? []
    : [{ name: 'postgres-s3', kind: 'cabinet', cli: CABINET_CLI, env: {}, nodeArgs: START_NODE_ARGS, variant: true, services: true }]),
].filter((spec) => !process.env.BENCH_SERVERS || process.env.BENCH_SERVERS.split(',').includes(spec.name))
const VARIANTS = SPECS.filter((spec) => spec.variant)

const TARGETS = { uploadRatio: 1.0, downloadRatio: 1.5, rssBytes: 150e6 }
const BOUNDARY = '----CabinetBench7d1f3a9c'
const CONTENT_TYPE = `multipart/form-data; boundary=${BOUNDARY}`

const log = (...parts) => console.log(...parts)
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// ---------------------------------------------------------------- processes, cleanup

const children = new Set()

function killAll(signal = 'SIGKILL') {
  for (const child of children) {
    try {
      child.kill(signal)
    } catch {
      // already gone
    }
  }
}

function removeWork() {
  try {
    rmSync(WORK, { recursive: true, force: true })
  } catch (error) {
    console.error(`bench: could not remove ${WORK}: ${error.message}`)
  }
}

// ---------------------------------------------------------------- PostgreSQL + S3

const SERVICES_DIR = join(WORK, 'services')
const SERVICE_SCRIPTS = ['postgres.sh', 's3-rgw.sh']
let servicesEnv

/** Starts throwaway PostgreSQL and Ceph RGW (RAM-backed, sized for a bench's worth of uploads) and returns Cabinet's env for them. */
function startServices() {
  const lines = {}
  for (const script of SERVICE_SCRIPTS) {
    const out = execFileSync('bash', [join(ROOT, 'scripts', 'services', script), 'start', join(SERVICES_DIR, script)], {
      encoding: 'utf8',
      env: { ...process.env, CABINET_RGW_MEMSTORE_BYTES: String(16 * 1024 * MiB) },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    for (const match of out.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) lines[match[1]] = match[2]
  }
  return {
    CABINET_DATABASE_URL: lines.CABINET_TEST_DATABASE_URL,
    CABINET_S3_ENDPOINT: lines.CABINET_TEST_S3_ENDPOINT,
    CABINET_S3_REGION: lines.CABINET_TEST_S3_REGION,
    CABINET_S3_ACCESS_KEY_ID: lines.CABINET_TEST_S3_ACCESS_KEY_ID,
    CABINET_S3_SECRET_ACCESS_KEY: lines.CABINET_TEST_S3_SECRET_ACCESS_KEY,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  }
}

function stopServices() {
  if (!servicesEnv) return
  for (const script of SERVICE_SCRIPTS) {
    const stopped = spawnSync('bash', [join(ROOT, 'scripts', 'services', script), 'stop', join(SERVICES_DIR, script)], { encoding: 'utf8' })
    if (stopped.status !== 0) console.error(`bench: stopping ${script} failed:\n${stopped.stderr}`)
  }
  servicesEnv = undefined
}

process.on('exit', () => {
  killAll('SIGKILL')
  stopServices()
  removeWork()
})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`bench: ${signal}, stopping servers`)
    process.exit(130)
  })
}

async function waitForHttp(url, child, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before listening`)
    try {
      await fetch(url)
      return
    } catch {
      await sleep(100)
    }
  }
  throw new Error(`server did not answer at ${url} within ${timeoutMs} ms`)
}

function readProcStatus(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  } catch {
    return undefined
  }
}

/** utime + stime of a process in seconds (Linux clock ticks are 100 Hz). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

/** Busy CPU seconds of the whole machine, of this process, and of its reaped children (the finished load generator). */
function machineCpu() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const [user, nice, system, , , irq, softirq, steal] = fields
  const self = readFileSync('/proc/self/stat', 'utf8')
  const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number)
  return {
    tasks: (user + nice + system) / 100,
    interrupts: (irq + softirq) / 100,
    steal: (steal ?? 0) / 100,
    self: (f[11] + f[12]) / 100,
    children: (f[13] + f[14]) / 100,
  }
}

/** Starts one server; resolves when it answers HTTP. Samples its VmRSS every 200 ms while it runs. */
async function startServer(spec, round) {
  const { kind, name } = spec
  const port = await freePort()
  const dir = join(WORK, `${name}-r${round}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const logPath = join(WORK, `${name}-r${round}.log`)
  const logFd = openSync(logPath, 'w')
  let child
  let token = '-'
  let dataDir
  if (kind === 'cabinet') {
    dataDir = join(dir, 'data')
    const env = { ...process.env, CABINET_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' }
    for (const key of Object.keys(env)) if (key.startsWith('CABINET_') && key !== 'CABINET_DATA_DIR') delete env[key] // default config
    Object.assign(env, FAIR_USE_OUT_OF_REACH)
    Object.assign(env, spec.env)
    // A fresh bucket each round; the database is shared, and its old rows are merely more rows to index.
    if (spec.services) Object.assign(env, servicesEnv, { CABINET_S3_BUCKET: `cabinet-bench-r${round}` })
    const out = execFileSync(process.execPath, [spec.cli, 'token', 'create', '--user', 'bench'], { env, encoding: 'utf8' })
    token = out.trim().split('\n').at(-1).trim()
    if (!token.startsWith('cab_')) throw new Error(`unexpected token output: ${out}`)
    child = spawn(process.execPath, [...spec.nodeArgs, spec.cli, 'serve'], { env, cwd: dir, stdio: ['ignore', logFd, logFd] })
  } else {
    dataDir = join(dir, 'files')
    const env = { ...process.env, STORAGE_DIR: dataDir, PORT: String(port), ...(spec.env ?? {}) }
    child = spawn(process.execPath, [...(spec.nodeArgs ?? []), BASELINE], { env, cwd: dir, stdio: ['ignore', logFd, logFd] })
  }
  closeSync(logFd)
  children.add(child)
  child.on('exit', () => children.delete(child))
  const base = `http://127.0.0.1:${port}`
  const server = { kind, name, round, port, base, token, dataDir, child, pid: child.pid, logPath, peakRss: 0, fixtures: {}, keep: new Set() }
  server.runPeakRss = 0
  server.sampler = setInterval(() => {
    const status = readProcStatus(server.pid)
    if (status && status.rss > server.peakRss) server.peakRss = status.rss
    if (status && status.rss > server.runPeakRss) server.runPeakRss = status.rss
  }, 200)
  try {
    await waitForHttp(`${base}/api/files/00000000000000000000000000000000`, child)
  } catch (error) {
    clearInterval(server.sampler)
    child.kill('SIGKILL')
    console.error(`bench: ${name} did not start; its log:\n${readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n')}`)
    throw error
  }
  return server
}

async function stopServer(server) {
  clearInterval(server.sampler)
  const status = readProcStatus(server.pid)
  server.hwm = status?.hwm ?? NaN
  if (status && status.rss > server.peakRss) server.peakRss = status.rss
  if (server.child.exitCode === null) {
    const exited = new Promise((resolve) => server.child.once('exit', resolve))
    server.child.kill('SIGTERM')
    const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)])
    if (timedOut) {
      server.child.kill('SIGKILL')
      await exited
    }
  }
  children.delete(server.child)
}

// ---------------------------------------------------------------- request bodies

function pngChunk(type, data) {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(data, crc32(Buffer.from(type, 'latin1'))) >>> 0, 0)
  return Buffer.concat([head, data, crc])
}

/** A well-formed 1×1 PNG padded with a private ancillary chunk of random bytes to exactly `size` bytes. */
function makePng(size) {
  const signature = Buffer.from('89504e470d0a1a0a', 'hex')
  const ihdr = pngChunk('IHDR', Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]))
  // one scanline: filter byte 0 + one grey pixel
  const idat = pngChunk('IDAT', deflateSync(Buffer.from([0, 0])))
  const iend = pngChunk('IEND', Buffer.alloc(0))
  const padding = size - signature.length - ihdr.length - idat.length - iend.length - 12
  if (padding < 0) throw new Error(`PNG of ${size} bytes is too small`)
  return Buffer.concat([signature, ihdr, pngChunk('bnCh', randomBytes(padding)), idat, iend])
}

function multipartBody(png) {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n`,
    'latin1',
  )
  return Buffer.concat([head, png, Buffer.from(`\r\n--${BOUNDARY}--\r\n`, 'latin1')])
}

const PNGS = {}
const BODY_FILES = {} // whole multipart bodies, for wrk
const PNG_FILES = {} // the bare files, named x.png, for autocannon's --form (its --input reads text, not bytes)
function prepareBodies() {
  for (const [label, bytes] of Object.entries(SIZES)) {
    mkdirSync(join(WORK, 'bodies', label), { recursive: true })
    PNGS[label] = makePng(bytes)
    BODY_FILES[label] = join(WORK, 'bodies', `upload-${label}.multipart`)
    writeFileSync(BODY_FILES[label], multipartBody(PNGS[label]))
    PNG_FILES[label] = join(WORK, 'bodies', label, 'x.png')
    writeFileSync(PNG_FILES[label], PNGS[label])
  }
}

// ---------------------------------------------------------------- fixtures and storage cleanup

function listFiles(dir) {
  const out = []
  const walk = (d) => {
    let entries
    try {
      entries = readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out.push(p)
    }
  }
  walk(dir)
  return out
}

/** Where a server keeps file bytes on disk; with S3 that is the bucket, which a fresh name per round keeps apart. */
function storedFilesDir(server) {
  return server.kind === 'cabinet' ? join(server.dataDir, 'blobs') : server.dataDir
}

/** Uploads one file of each size, checks that it downloads byte for byte, and remembers it for the download scenarios. */
async function uploadFixtures(server) {
  const headers = server.token === '-' ? {} : { authorization: `Bearer ${server.token}` }
  for (const label of Object.keys(SIZES)) {
    const response = await fetch(`${server.base}/api/files/upload`, {
      method: 'POST',
      headers: { ...headers, 'content-type': CONTENT_TYPE },
      body: readFileSync(BODY_FILES[label]),
    })
    const text = await response.text()
    if (response.status !== 200) throw new Error(`${server.name}: fixture upload ${label} answered ${response.status}: ${text}`)
    const id = JSON.parse(text).file_id
    const download = await fetch(`${server.base}/api/files/${id}`, { headers })
    const bytes = Buffer.from(await download.arrayBuffer())
    if (download.status !== 200 || !bytes.equals(PNGS[label])) {
      throw new Error(`${server.name}: fixture ${label} downloaded as ${download.status}, ${bytes.length} bytes, not the uploaded file`)
    }
    server.fixtures[label] = id
  }
  for (const path of listFiles(storedFilesDir(server))) server.keep.add(path)
}

/** Removes every stored file except the download fixtures, then flushes the page cache so the next run starts clean. */
function cleanUploads(server) {
  let removed = 0
  for (const path of listFiles(storedFilesDir(server))) {
    if (server.keep.has(path)) continue
    try {
      unlinkSync(path)
      removed += 1
    } catch {
      // removed meanwhile (an aborted upload being discarded)
    }
  }
  spawnSync('sync')
  return removed
}

// ---------------------------------------------------------------- load generators

function which(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0
}

function chooseLoadGenerator() {
  if (process.env.BENCH_LOADGEN === 'autocannon') return { name: 'autocannon', note: 'forced by BENCH_LOADGEN=autocannon' }
  if (which('wrk')) return { name: 'wrk', note: 'already installed' }
  if (process.getuid?.() === 0) {
    log('wrk is missing; installing it with apt-get (root)…')
    let result = spawnSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore' })
    if (result.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'ignore' })
      result = spawnSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore' })
    }
    if (result.status === 0 && which('wrk')) return { name: 'wrk', note: 'installed with apt-get' }
  }
  return { name: 'autocannon', note: 'wrk not available; FALLBACK to autocannon (Node.js; it competes with the server for the 2 cores)' }
}

function wrkVersion() {
  const out = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  return `${out.stdout}${out.stderr}`.split('\n')[0].trim()
}

let LOADGEN

// Other people's builds and test runs share these 2 cores. Before each measured run wait (briefly: a long idle gap
// would itself trigger V8's memory reducer) for a quiet moment, and re-run a run that was disturbed, a few times per bench.
const NOISY_CORES = envNumber('BENCH_NOISY_CORES', 0.3)
let retriesLeft = Math.round(envNumber('BENCH_MAX_RETRIES', 4))
// No more quiet-waits or re-runs once the bench has run this long, so that it still ends in about 6 minutes.
const BUDGET_MS = envNumber('BENCH_BUDGET_SECONDS', 300) * 1000
const STARTED = Date.now()
const withinBudget = () => Date.now() - STARTED < BUDGET_MS
const noise = { retried: 0, waitedMs: 0 }

async function waitQuiet(server, maxMs = 1500) {
  if (!withinBudget()) return
  const started = Date.now()
  for (;;) {
    const m0 = machineCpu()
    const s0 = cpuSeconds(server.pid)
    await sleep(250)
    const m1 = machineCpu()
    const other = (m1.tasks - m0.tasks - (cpuSeconds(server.pid) - s0) - (m1.self - m0.self)) / 0.25
    if (other < 0.15 || Date.now() - started >= maxMs) break
  }
  noise.waitedMs += Date.now() - started
}

/** A measured run: waits for a quiet moment, and re-runs once if other processes disturbed it. */
async function measure(server, scenario, seconds, beforeRun = async () => {}) {
  await beforeRun()
  await waitQuiet(server)
  let r = await runLoad(server, scenario, seconds)
  if (r.otherCpu > NOISY_CORES && retriesLeft > 0 && withinBudget()) {
    retriesLeft -= 1
    noise.retried += 1
    if (scenario.kind === 'upload') cleanUploads(server)
    await waitQuiet(server)
    const again = await runLoad(server, scenario, seconds)
    again.retried = true
    if (again.otherCpu < r.otherCpu) r = again
  }
  return r
}

/** One load run against `server`; returns requests, ok responses, seconds and latency percentiles (ms). */
async function runLoad(server, scenario, seconds) {
  const upload = scenario.kind === 'upload'
  const url = upload ? `${server.base}/api/files/upload` : `${server.base}/api/files/${server.fixtures[scenario.sizeLabel]}`
  const serverCpu0 = cpuSeconds(server.pid)
  const machine0 = machineCpu()
  server.runPeakRss = readProcStatus(server.pid)?.rss ?? 0
  const started = performance.now()
  const result = LOADGEN.name === 'wrk' ? await runWrk(server, scenario, url, seconds) : await runAutocannon(server, scenario, url, seconds)
  const wall = (performance.now() - started) / 1000
  const machine1 = machineCpu()
  const serverCpu = cpuSeconds(server.pid) - serverCpu0
  const loadgenCpu = machine1.children - machine0.children + machine1.self - machine0.self
  result.serverCpu = serverCpu / wall
  // Server CPU per request (all its threads): less sensitive to other load on the machine than req/s.
  result.cpuMsPerReq = result.requests ? (serverCpu * 1000) / result.requests : NaN
  result.loadgenCpu = loadgenCpu / wall
  // Everything else on the machine (other users' builds and tests, kernel threads such as writeback), in cores;
  // interrupt time (mostly loopback networking in softirq) and hypervisor steal are reported apart.
  result.otherCpu = Math.max(0, machine1.tasks - machine0.tasks - serverCpu - loadgenCpu) / wall
  result.irqCpu = (machine1.interrupts - machine0.interrupts) / wall
  result.stealCpu = (machine1.steal - machine0.steal) / wall
  result.wall = wall
  result.peakRss = server.runPeakRss
  result.rps = result.requests / result.seconds
  result.mibps = (result.ok * scenario.bytes) / MiB / result.seconds
  return result
}

function runProcess(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('exit', (code) => {
      children.delete(child)
      resolve({ code, stdout, stderr })
    })
  })
}

async function runWrk(server, scenario, url, seconds) {
  const upload = scenario.kind === 'upload'
  const args = [
    `-t${THREADS}`,
    `-c${CONCURRENCY}`,
    `-d${seconds}s`,
    '--timeout',
    '20s',
    '-s',
    WRK_SCRIPT,
    url,
    '--',
    upload ? 'POST' : 'GET',
    server.token,
    upload ? BODY_FILES[scenario.sizeLabel] : '-',
    upload ? CONTENT_TYPE : '-',
  ]
  const { code, stdout, stderr } = await runProcess('wrk', args)
  const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '))
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${stderr || stdout}`)
  const r = JSON.parse(line.slice('WRKJSON '.length))
  const socketErrors = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout
  return {
    requests: r.requests,
    ok: r.requests - r.errors.status,
    errors: r.errors.status + socketErrors,
    errorDetail: r.errors,
    seconds: r.duration_us / 1e6,
    p50: r.latency_us.p50 / 1000,
    p90: r.latency_us.p90 / 1000,
    p99: r.latency_us.p99 / 1000,
    max: r.latency_us.max / 1000,
  }
}

async function runAutocannon(server, scenario, url, seconds) {
  const upload = scenario.kind === 'upload'
  const local = join(ROOT, 'node_modules', '.bin', 'autocannon')
  const [command, prefix] = existsSync(local) ? [local, []] : ['npx', ['--yes', 'autocannon@8']]
  const args = [...prefix, '-j', '-c', String(CONCURRENCY), '-d', String(seconds), '-t', '20']
  if (server.token !== '-') args.push('-H', `Authorization: Bearer ${server.token}`)
  if (upload) args.push('-m', 'POST', '-F', JSON.stringify({ file: { type: 'file', path: PNG_FILES[scenario.sizeLabel] } }))
  args.push(url)
  const { code, stdout, stderr } = await runProcess(command, args)
  const start = stdout.indexOf('{')
  if (code !== 0 || start < 0) throw new Error(`autocannon failed (${code}): ${stderr || stdout}`)
  const r = JSON.parse(stdout.slice(start))
  const requests = r.requests.total
  return {
    requests,
    ok: requests - (r.non2xx ?? 0),
    errors: (r.non2xx ?? 0) + (r.errors ?? 0) + (r.timeouts ?? 0),
    errorDetail: { non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts },
    seconds: r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
  }
}

// ---------------------------------------------------------------- the run

const results = Object.fromEntries(SPECS.map((s) => [s.name, {}])) // server -> scenario -> [result per round]
const idleResults = Object.fromEntries(SPECS.map((s) => [s.name, {}])) // server -> scenario -> result
const memory = Object.fromEntries(SPECS.map((s) => [s.name, []])) // server -> per process: { hwm, peakRss }

function fmtRun(r) {
  const err = r.errors ? `  ERRORS ${JSON.stringify(r.errorDetail)}` : ''
  return (
    `${r.rps.toFixed(0).padStart(6)} req/s RSS ${(r.peakRss / 1e6).toFixed(0).padStart(3)} MB ${r.mibps.toFixed(0).padStart(5)} MiB/s  ` +
    `p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  CPU% server ${(r.serverCpu * 100).toFixed(0)} (${r.cpuMsPerReq.toFixed(2)} ms/req) loadgen ${(r.loadgenCpu * 100).toFixed(0)} other ${(r.otherCpu * 100).toFixed(0)} irq ${(r.irqCpu * 100).toFixed(0)} steal ${(r.stealCpu * 100).toFixed(0)}${r.retried ? ' (re-run)' : ''}${err}`
  )
}

async function benchServer(spec, round, { idle }) {
  const kind = spec.name
  const server = await startServer(spec, round)
  try {
    await uploadFixtures(server)
    log(`  ${kind} (pid ${server.pid}, port ${server.port}) up; fixtures ok`)
    for (const scenario of SCENARIOS) {
      if (WARMUP_SECONDS > 0) {
        await runLoad(server, scenario, WARMUP_SECONDS)
        if (scenario.kind === 'upload') cleanUploads(server)
      }
      const r = await measure(server, scenario, SECONDS)
      ;(results[kind][scenario.name] ??= []).push(r)
      log(`    ${scenario.name.padEnd(6)} ${fmtRun(r)}`)
      if (scenario.kind === 'upload') {
        await sleep(200) // let aborted in-flight uploads settle before removing files
        cleanUploads(server)
      }
    }
    if (idle) {
      for (const scenario of IDLE_SCENARIOS) {
        await sleep(IDLE_SECONDS * 1000)
        const r = await runLoad(server, scenario, SECONDS) // no quiet-wait or retry: the idle gap is the point
        idleResults[kind][scenario.name] = r
        log(`    ${`${scenario.name} after ${IDLE_SECONDS}s idle`.padEnd(24)} ${fmtRun(r)}`)
      }
    }
  } catch (error) {
    console.error(`bench: ${kind} failed; last lines of its log (${relative(ROOT, server.logPath)}):`)
    try {
      console.error(readFileSync(server.logPath, 'utf8').split('\n').slice(-15).join('\n'))
    } catch {
      // no log
    }
    throw error
  } finally {
    await stopServer(server)
    memory[kind].push({ hwm: server.hwm, peakRss: server.peakRss })
    log(`  ${kind} stopped: VmHWM ${(server.hwm / 1e6).toFixed(1)} MB, peak sampled VmRSS ${(server.peakRss / 1e6).toFixed(1)} MB`)
  }
}

function stats(values) {
  const m = median(values)
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  return { median: m, min: lo, max: hi, spreadPct: m ? ((hi - lo) / m) * 100 : 0 }
}

function fmtNum(x) {
  if (!Number.isFinite(x)) return 'n/a'
  if (Math.abs(x) >= 100) return x.toFixed(0)
  if (Math.abs(x) >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

const sizeName = (scenario) => `${scenario.kind} ${scenario.sizeLabel.replace('k', ' KiB').replace('m', ' MiB')}`
const maxOf = (values) => (values.length ? Math.max(...values) : NaN)
const mb = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(1)} MB` : 'n/a')

function report(totalSeconds) {
  const lines = []
  const push = (s = '') => lines.push(s)
  const targetFor = (scenario) => (scenario.kind === 'upload' ? TARGETS.uploadRatio : TARGETS.downloadRatio)
  const checks = []
  const has = (name) => SPECS.some((spec) => spec.name === name)

  push(`### Cabinet vs. design-note baseline (Express 4 + multer)`)
  push()
  push(
    `${LOADGEN.label}; ${LOADGEN.name === 'wrk' ? `${THREADS} threads, ` : ''}${CONCURRENCY} connections; ${ROUNDS} rounds × ${SECONDS} s per scenario ` +
      `(+${WARMUP_SECONDS} s warm-up), servers run one at a time, restarted on fresh data dirs each round; ` +
      `Node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; loopback only. ` +
      `Values are medians over rounds; ± is half the (max−min) range of req/s relative to the median; ` +
      `ratio is the median of per-round Cabinet/baseline req/s ratios (min–max).`,
  )
  push()
  if (has('cabinet') && has('baseline')) {
    push('| Scenario | Cabinet req/s | Baseline req/s | Cabinet MiB/s | Baseline MiB/s | Cabinet p50 / p99 ms | Baseline p50 / p99 ms | Ratio C/B (min–max) | Target | Holds |')
    push('|---|---|---|---|---|---|---|---|---|---|')
    for (const scenario of SCENARIOS) {
      const c = results.cabinet[scenario.name] ?? []
      const b = results.baseline[scenario.name] ?? []
      if (!c.length || !b.length) continue
      const cr = stats(c.map((r) => r.rps))
      const br = stats(b.map((r) => r.rps))
      const ratios = stats(c.map((r, i) => r.rps / (b[i]?.rps ?? NaN)).filter(Number.isFinite))
      const target = targetFor(scenario)
      const holds = ratios.median >= target
      const errors = [...c, ...b].reduce((n, r) => n + r.errors, 0)
      checks.push({ what: `${scenario.name} ratio ≥ ${target}`, holds })
      push(
        `| ${sizeName(scenario)}${errors ? ` (${errors} errors!)` : ''} ` +
          `| ${fmtNum(cr.median)} ±${(cr.spreadPct / 2).toFixed(0)}% | ${fmtNum(br.median)} ±${(br.spreadPct / 2).toFixed(0)}% ` +
          `| ${fmtNum(median(c.map((r) => r.mibps)))} | ${fmtNum(median(b.map((r) => r.mibps)))} ` +
          `| ${fmtNum(median(c.map((r) => r.p50)))} / ${fmtNum(median(c.map((r) => r.p99)))} ` +
          `| ${fmtNum(median(b.map((r) => r.p50)))} / ${fmtNum(median(b.map((r) => r.p99)))} ` +
          `| **${ratios.median.toFixed(2)}** (${ratios.min.toFixed(2)}–${ratios.max.toFixed(2)}) | ≥ ${target.toFixed(1)} | ${holds ? 'yes' : '**NO**'} |`,
      )
    }
    push()
  }
  if (IDLE_SCENARIOS.length && has('cabinet') && has('baseline')) {
    push(`After ${IDLE_SECONDS} s idle (V8 memory reducer check): one ${SECONDS} s burst per scenario at the end of the last round, each after its own idle gap:`)
    push()
    push('| Scenario | Cabinet warm → after idle req/s | Baseline warm → after idle req/s | Ratio C/B after idle | Target | Holds |')
    push('|---|---|---|---|---|---|')
    for (const scenario of IDLE_SCENARIOS) {
      const c = idleResults.cabinet[scenario.name]
      const b = idleResults.baseline[scenario.name]
      if (!c || !b) continue
      const cw = median((results.cabinet[scenario.name] ?? []).map((r) => r.rps))
      const bw = median((results.baseline[scenario.name] ?? []).map((r) => r.rps))
      const change = (idle, warm) => (Number.isFinite(warm) ? ` (${idle >= warm ? '+' : ''}${(((idle - warm) / warm) * 100).toFixed(0)}%)` : '')
      const ratio = c.rps / b.rps
      const holds = ratio >= TARGETS.downloadRatio
      checks.push({ what: `${scenario.name} after idle ratio ≥ ${TARGETS.downloadRatio}`, holds })
      push(
        `| ${sizeName(scenario)} | ${fmtNum(cw)} → ${fmtNum(c.rps)}${change(c.rps, cw)} | ${fmtNum(bw)} → ${fmtNum(b.rps)}${change(b.rps, bw)} ` +
          `| **${ratio.toFixed(2)}** | ≥ ${TARGETS.downloadRatio.toFixed(1)} | ${holds ? 'yes' : '**NO**'} |`,
      )
    }
    push()
  }
  if (has('cabinet')) {
    const hwm = maxOf(memory.cabinet.map((m) => m.hwm))
    const rssHolds = hwm < TARGETS.rssBytes
    checks.push({ what: 'Cabinet peak RSS < 150 MB', holds: rssHolds })
    push('| Memory | Cabinet | Baseline | Target | Holds |')
    push('|---|---|---|---|---|')
    push(
      `| Peak RSS (max VmHWM over the ${memory.cabinet.length} server processes) | ${mb(hwm)} | ${mb(maxOf((memory.baseline ?? []).map((m) => m.hwm)))} ` +
        `| < 150 MB | ${rssHolds ? 'yes' : '**NO**'} |`,
    )
    push(
      `| Peak VmRSS sampled every 200 ms | ${mb(maxOf(memory.cabinet.map((m) => m.peakRss)))} | ${mb(maxOf((memory.baseline ?? []).map((m) => m.peakRss)))} | | |`,
    )
    push()
  }
  if (VARIANTS.length) {
    const ref = has('cabinet') ? 'cabinet' : undefined
    push(
      `Variants (median req/s${ref ? '; ×C is the median per-round ratio to "cabinet"' : ''}${has('baseline') ? ', ×B to the baseline' : ''}; ` +
        `then the server's median CPU ms per request, which other load on the machine disturbs less):`,
    )
    push()
    const refs = SPECS.filter((spec) => !spec.variant)
    push(`| Scenario | ${refs.map((r) => `${r.name} (CPU ms/req)`).join(' | ')} | ${VARIANTS.map((v) => v.name).join(' | ')} |`)
    push(`|---|${[...refs, ...VARIANTS].map(() => '---').join('|')}|`)
    const ratioTo = (name, other, scenario) => {
      const a = results[name][scenario.name] ?? []
      const b = results[other]?.[scenario.name] ?? []
      const ratios = a.map((r, i) => r.rps / (b[i]?.rps ?? NaN)).filter(Number.isFinite)
      return ratios.length ? median(ratios) : NaN
    }
    for (const scenario of [...SCENARIOS]) {
      const cells = VARIANTS.map((v) => {
        const runs = results[v.name][scenario.name] ?? []
        if (!runs.length) return 'n/a'
        let cell = `${fmtNum(median(runs.map((r) => r.rps)))} ±${(stats(runs.map((r) => r.rps)).spreadPct / 2).toFixed(0)}%`
        if (ref) cell += ` (×${ratioTo(v.name, ref, scenario).toFixed(2)} C`
        if (has('baseline')) cell += `${ref ? ',' : ' ('} ×${ratioTo(v.name, 'baseline', scenario).toFixed(2)} B`
        if (ref || has('baseline')) cell += ')'
        return `${cell}; ${median(runs.map((r) => r.cpuMsPerReq)).toFixed(2)} ms`
      })
      const refCells = refs.map((r) => {
        const runs = results[r.name][scenario.name] ?? []
        return runs.length ? `${fmtNum(median(runs.map((x) => x.rps)))}; ${median(runs.map((x) => x.cpuMsPerReq)).toFixed(2)} ms` : 'n/a'
      })
      push(`| ${sizeName(scenario)} | ${[...refCells, ...cells].join(' | ')} |`)
    }
    for (const scenario of IDLE_SCENARIOS) {
      push(`| ${sizeName(scenario)} after ${IDLE_SECONDS} s idle | ${refs.map((r) => fmtNum(idleResults[r.name][scenario.name]?.rps)).join(' | ')} | ${VARIANTS.map((v) => fmtNum(idleResults[v.name][scenario.name]?.rps)).join(' | ')} |`)
    }
    push(`| peak RSS (VmHWM) | ${refs.map((r) => mb(maxOf(memory[r.name].map((m) => m.hwm)))).join(' | ')} | ${VARIANTS.map((v) => mb(maxOf(memory[v.name].map((m) => m.hwm)))).join(' | ')} |`)
    push()
    for (const v of VARIANTS) push(`- ${v.name}: ${v.kind === 'baseline' ? 'bench/baseline-server.cjs' : v.cli === CABINET_CLI ? 'this build' : v.cli}${Object.keys(v.env).length ? `, env ${JSON.stringify(v.env)}` : ''}${v.nodeArgs.length ? `, node ${v.nodeArgs.join(' ')}` : ''}`)
    push()
  }
  const failed = checks.filter((c) => !c.holds)
  if (checks.length) {
    push(
      failed.length
        ? `**Targets: ${checks.length - failed.length}/${checks.length} hold.** Missed: ${failed.map((c) => c.what).join('; ')}.`
        : `**Targets: all ${checks.length} hold.**`,
    )
    push()
  }
  push(
    `${process.env.BENCH_CABINET_CLI ? `Cabinet build: ${process.env.BENCH_CABINET_CLI}. ` : ''}` +
      `Notes: Cabinet ran with its default config (info-level JSON request logs, here to a file; SQLite WAL synced before each upload is acknowledged (group commit); fsync of every stored file and its folder)${START_NODE_ARGS.length ? ` and the node flags of \`npm start\` (${START_NODE_ARGS.join(' ')})` : ''}; ` +
      `the baseline keeps metadata in a Map and does not fsync. Uploaded files were deleted and \`sync\` run after every upload run. ` +
      `Total bench time ${(totalSeconds / 60).toFixed(1)} min.`,
  )
  const all = Object.values(results).flatMap((byScenario) => Object.values(byScenario).flat())
  const others = all.map((r) => r.otherCpu)
  push()
  push(
    `Machine noise: processes other than the server under test and the load generator used ` +
      `median ${(median(others) * 100).toFixed(0)}%, max ${(Math.max(...others) * 100).toFixed(0)}% of one core per run; ` +
      `hypervisor steal median ${(median(all.map((r) => r.stealCpu)) * 100).toFixed(0)}%, max ${(Math.max(...all.map((r) => r.stealCpu)) * 100).toFixed(0)}%; ` +
      `the load generator itself used median ${(median(all.map((r) => r.loadgenCpu)) * 100).toFixed(0)}% of one core. ` +
      `${noise.retried} disturbed run(s) were re-run (the less disturbed result kept); ${(noise.waitedMs / 1000).toFixed(0)} s spent waiting for quiet.`,
  )
  return lines.join('\n')
}

async function main() {
  const t0 = performance.now()
  if (!process.env.BENCH_CABINET_CLI && !existsSync(join(DIST, 'cli', 'index.js'))) throw new Error('dist/cli/index.js is missing: run npm run build (npm run bench does)')
  removeWork()
  mkdirSync(WORK, { recursive: true })
  cpSync(DIST, DIST_SNAPSHOT, { recursive: true, filter: (src) => !src.endsWith('.map') })
  if (SPECS.some((spec) => spec.services)) {
    log('Starting PostgreSQL and Ceph RGW for the postgres-s3 run')
    servicesEnv = startServices()
  }
  LOADGEN = chooseLoadGenerator()
  LOADGEN.label = LOADGEN.name === 'wrk' ? `Load generator: ${wrkVersion()} (${LOADGEN.note})` : `Load generator: autocannon (${LOADGEN.note})`
  log(LOADGEN.label)
  prepareBodies()
  log(
    `Scenarios ${SCENARIOS.map((s) => s.name).join(', ')}; ${ROUNDS} rounds × ${SECONDS} s (+${WARMUP_SECONDS} s warm-up); ` +
      `concurrency ${CONCURRENCY}; idle check ${IDLE_SCENARIOS.map((s) => s.name).join(', ') || 'off'} after ${IDLE_SECONDS} s`,
  )
  for (let round = 1; round <= ROUNDS; round++) {
    // rotate the order each round so that drift in the machine's speed does not favour one server
    const shift = (round - 1) % SPECS.length
    const order = [...SPECS.slice(shift), ...SPECS.slice(0, shift)]
    log(`Round ${round}/${ROUNDS}`)
    for (const spec of order) await benchServer(spec, round, { idle: round === ROUNDS })
  }
  const table = report((performance.now() - t0) / 1000)
  log('')
  log(table)
}

main()
  .catch((error) => {
    console.error(`bench: ${error.stack ?? error}`)
    process.exitCode = 1
  })
  .finally(() => {
    killAll('SIGTERM')
    stopServices()
    // exit explicitly: after an error a timer (an RSS sampler) may still be pending; the exit handler cleans up
    process.exit()
  })
