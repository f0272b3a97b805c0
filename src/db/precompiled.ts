import type { Compilable, CompiledQuery } from 'kysely'

/**
 * A query built and compiled once, then run with new string values: Kysely otherwise rebuilds its
 * immutable query tree and recompiles it on every call, which costs more than running the point
 * lookups on Cabinet's hot paths. `build` gets one placeholder per value, and each placeholder must
 * reach the query as a bound parameter (a `where` value, say), never as an identifier.
 */
export function precompile<R, const Names extends readonly string[]>(
  names: Names,
  build: (...placeholders: string[]) => Compilable<R>,
): (...values: { [K in keyof Names]: string }) => CompiledQuery<R> {
  const placeholders = names.map((name) => `\u0000cabinet:${name}\u0000`)
  const compiled = build(...placeholders).compile()
  const positions = compiled.parameters.map((parameter) => placeholders.indexOf(parameter as string))
  for (const [index, placeholder] of placeholders.entries()) {
    if (!positions.includes(index)) throw new Error(`precompile: ${names[index]} does not reach the query as a parameter`)
    if (compiled.sql.includes(placeholder)) throw new Error(`precompile: ${names[index]} is inlined into the SQL`)
  }
  return (...values) => ({
    ...compiled,
    parameters: compiled.parameters.map((parameter, i) => (positions[i]! >= 0 ? values[positions[i]!] : parameter)),
  })
}
