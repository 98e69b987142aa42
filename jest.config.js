/** @type {import('jest').Config} */
const project = {
  testEnvironment: 'node',
  rootDir: __dirname,
  testMatch: [
    '<rootDir>/libs/**/*.spec.ts',
    '<rootDir>/apps/**/*.spec.ts',
    '<rootDir>/test/**/*.spec.ts',
  ],
  // The 10x overload run is not in the default run: on these 2-core machines its own load generator takes
  // about half the CPU, and health probes then take 1-3 s (its bound is 1 s). `npm run test:faults` runs it.
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/(libs|apps)/[^/]+/dist/',
    '<rootDir>/tools/dist/',
    '<rootDir>/data/',
    ...(process.env.RAFT_FAULTS === '1' ? [] : ['<rootDir>/test/chaos/overload.spec.ts']),
  ],
  modulePathIgnorePatterns: ['<rootDir>/(libs|apps)/[^/]+/dist/', '<rootDir>/tools/dist/', '<rootDir>/data/'],
  watchPathIgnorePatterns: ['<rootDir>/(libs|apps)/[^/]+/dist/', '<rootDir>/tools/dist/', '<rootDir>/data/', '<rootDir>/coverage/'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  // The packages by name, from their sources (no build needed), and only their published entry points:
  // a test that imports anything else fails as a user's import would.
  moduleNameMapper: {
    '^@raft-cqrs/raft$': '<rootDir>/libs/raft/src/index',
    '^@raft-cqrs/raft/(storage|transport|testing)$': '<rootDir>/libs/raft/src/$1/index',
    '^@raft-cqrs/raft-cluster$': '<rootDir>/libs/raft-cluster/src/index',
    '^@raft-cqrs/raft-cluster/(testing|groups)$': '<rootDir>/libs/raft-cluster/src/$1/index',
  },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
          keepClassNames: true,
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
    // ESM-only dependencies of @fastify/static: Node 20 requires them natively, Jest's runtime does not.
    '/node_modules/(.+/)?content-disposition/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(.+/)?content-disposition/)'],
};

// The sample apps and the in-process tests run on HTTP_PLATFORM (default fastify, the faster); the module's
// tests and the end-to-end suite run again on the other platform, so that neither loses a behaviour.
const platform = process.env.HTTP_PLATFORM === 'express' ? 'express' : 'fastify';
const other = platform === 'express' ? 'fastify' : 'express';

module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  rootDir: __dirname,
  projects: [
    { ...project, displayName: platform },
    {
      ...project,
      displayName: other,
      testMatch: ['<rootDir>/libs/raft-cluster/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/test/e2e/*.e2e.spec.ts'],
      // No HTTP platform in them, or none beyond what the other end-to-end tests cover on both: the
      // simulator on the CQRS state machine, and the event processors' process-level tests run once.
      testPathIgnorePatterns: [
        ...project.testPathIgnorePatterns,
        '<rootDir>/libs/raft-cluster/test/sim-cqrs.spec.ts',
        '<rootDir>/test/e2e/order-notify.e2e.spec.ts',
        '<rootDir>/test/e2e/chat-transcript.e2e.spec.ts',
      ],
      setupFiles: [`<rootDir>/test/support/platform-${other}.js`],
    },
  ],
};
