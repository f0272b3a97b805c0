import type { Compilable, CompiledQuery, Kysely } from 'kysely'

/** A Kysely instance or transaction of any database: all a compiled query needs to know is its dialect. */
type RunsQueries = Pick<Kysely<never>, 'getExecutor'>

/**
 * A query built and compiled once per SQL dialect, then run with new values: Kysely otherwise
 * rebuilds its immutable query tree and recompiles it on every call, which costs more than running
 * the statements on Cabinet's hot paths. `build` gets one placeholder per name, and each must reach
 * the query as a bound parameter (a `where`, `values` or `set` value), never as an identifier or
 * inside a list. The result runs on any Kysely or transaction: `db.executeQuery(query(db, ...values))`.
 */
export function precompile<R, const Names extends readonly string[]>(
  names: Names,
  // Placeholders are typed never so that they fit any column; they are strings until the query runs.
  build: (db: Kysely<any>, ...placeholders: never[]) => Compilable<R>, // eslint-disable-line @typescript-eslint/no-explicit-any
): (db: RunsQueries, ...values: { [K in keyof Names]: unknown }) => CompiledQuery<R> {
  const placeholders = names.map((name) => `\u0000cabinet:${name}\u0000`)
  // One compiled form per dialect (SQLite `?`, PostgreSQL `$1`), found by the executor's adapter.
  const byAdapter = new Map<unknown, { compiled: CompiledQuery<R>; positions: number[] }>()
  const compileFor = (db: RunsQueries) => {
    const compiled = build(db as Kysely<unknown>, ...(placeholders as never[])).compile()
    const positions = compiled.parameters.map((parameter) => placeholders.indexOf(parameter as string))
    for (const [index, placeholder] of placeholders.entries()) {
      if (compiled.sql.includes(placeholder)) throw new Error(`precompile: ${names[index]} is inlined into the SQL`)
      if (!positions.includes(index)) throw new Error(`precompile: ${names[index]} does not reach the query as a parameter`)
    }
    return { compiled, positions }
  }
  return (db, ...values) => {
    const adapter = db.getExecutor().adapter.constructor
    let entry = byAdapter.get(adapter)
    if (!entry) byAdapter.set(adapter, (entry = compileFor(db)))
    const { compiled, positions } = entry
    return { ...compiled, parameters: compiled.parameters.map((parameter, i) => (positions[i]! >= 0 ? values[positions[i]!] : parameter)) }
  }
}
