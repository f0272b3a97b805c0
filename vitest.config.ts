import { defineConfig } from 'vitest/config'

/**
 * One run, three projects: unit and conformance tests (which pick their own backends),
 * and the integration suite twice, on the embedded default and on PostgreSQL + S3.
 * Files named *.embedded.test.ts or *.postgres-s3.test.ts belong to one backend only.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts', 'test/conformance/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'embedded',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/**/*.postgres-s3.test.ts'],
          env: { CABINET_TEST_BACKEND: 'embedded' },
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres-s3',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/**/*.embedded.test.ts'],
          env: { CABINET_TEST_BACKEND: 'postgres-s3' },
        },
      },
    ],
  },
})
