/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
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
    '<rootDir>/dist/',
    '<rootDir>/data/',
    ...(process.env.RAFT_FAULTS === '1' ? [] : ['<rootDir>/test/chaos/overload.spec.ts']),
  ],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/data/'],
  watchPathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/data/', '<rootDir>/coverage/'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@raft-cqrs/raft$': '<rootDir>/libs/raft/src/index',
    '^@raft-cqrs/raft/(.*)$': '<rootDir>/libs/raft/src/$1',
    '^@raft-cqrs/raft-cluster$': '<rootDir>/libs/raft-cluster/src/index',
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
  },
};
