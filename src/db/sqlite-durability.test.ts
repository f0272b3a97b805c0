import SqliteDatabase from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { GroupSync, withStatementCache } from './sqlite-durability.js'

/** A flush that records when it started and finishes only when told to. */
function controlledFlush() {
  const starts: number[] = []
  const finishers: Array<(error?: Error) => void> = []
  let clock = 0
  return {
    starts,
    tick: () => ++clock,
    flush: () =>
      new Promise<void>((resolve, reject) => {
        starts.push(clock)
        finishers.push((error) => (error ? reject(error) : resolve()))
      }),
    finish: (error?: Error) => finishers.shift()!(error),
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('GroupSync', () => {
  it('a caller arriving during a flush waits for a flush that starts after it', async () => {
    const f = controlledFlush()
    const group = new GroupSync(f.flush)
    const first = group.sync()
    f.tick()
    let secondDone = false
    const second = group.sync().then(() => (secondDone = true))
    f.finish()
    await first
    await settle()
    expect(secondDone).toBe(false)
    expect(f.starts).toEqual([0, 1])
    f.finish()
    await second
  })

  it('many concurrent callers share at most two flushes', async () => {
    const f = controlledFlush()
    const group = new GroupSync(f.flush)
    const callers = Array.from({ length: 50 }, () => group.sync())
    f.finish()
    await settle()
    f.finish()
    await Promise.all(callers)
    expect(f.starts).toHaveLength(2)
  })

  it('a failed flush rejects its callers, and the next caller gets a fresh flush', async () => {
    const f = controlledFlush()
    const group = new GroupSync(f.flush)
    const failing = group.sync()
    f.finish(new Error('EIO'))
    await expect(failing).rejects.toThrow('EIO')
    const next = group.sync()
    f.finish()
    await expect(next).resolves.toBeUndefined()
    expect(f.starts).toHaveLength(2)
  })
})

describe('withStatementCache', () => {
  it('prepares each distinct statement once and keeps at most the configured number', () => {
    const database = new SqliteDatabase(':memory:')
    let prepared = 0
    const counting = new Proxy(database, {
      get: (target, name) => (name === 'prepare' ? (sql: string) => (prepared++, target.prepare(sql)) : Reflect.get(target, name)),
    })
    const cached = withStatementCache(counting, 2)
    cached.prepare('select 1')
    cached.prepare('select 1')
    cached.prepare('select 2')
    expect(prepared).toBe(2)
    cached.prepare('select 3') // evicts "select 1", the least recently used
    cached.prepare('select 2')
    expect(prepared).toBe(3)
    cached.prepare('select 1')
    expect(prepared).toBe(4)
    expect(cached.prepare('select 2').all([])).toEqual([{ 2: 2 }])
    cached.close()
  })
})
