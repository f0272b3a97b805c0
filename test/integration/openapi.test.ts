import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/server.js'

/** Rows of the README's API table: | `METHOD` | `/path` | ... */
async function readmeApiRows(): Promise<string[]> {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## API'), readme.indexOf('\n## ', readme.indexOf('## API') + 1))
  return [...section.matchAll(/^\| `([A-Z, ]+)` \| `([^`]+)` \|/gm)].flatMap(([, methods, path]) =>
    methods!.split(',').map((method) => `${method.trim()} ${path}`),
  )
}

describe('API description', () => {
  let cabinet: TestServer
  let document: { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>> }

  beforeAll(async () => {
    cabinet = await startTestServer()
    const response = await fetch(`${cabinet.url}/openapi.json`)
    expect(response.status).toBe(200)
    document = await response.json()
  })
  afterAll(() => cabinet.stop())

  it('is generated from the routes\' own schemas', () => {
    expect(document.openapi).toBe('3.1.0')
    const upload = document.paths['/api/files/upload']!.post!
    expect(JSON.stringify(upload.requestBody)).toContain('multipart/form-data')
    expect(Object.keys(upload.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '413', '415', '507']))
  })

  it('agrees with the README\'s API table', async () => {
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    )
    expect((await readmeApiRows()).sort()).toEqual(documented.sort())
  })

  it('has a docs page that renders it', async () => {
    const response = await fetch(`${cabinet.url}/docs/`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
    expect(await response.text()).toContain('swagger')
  })
})
