// @ts-check
// `npm run lint:cycles`: no import cycles in the sources (libs, apps, test, bench, tools, bin).
//
// Type-only imports count: `import type` vanishes at compile time, so a cycle through one is no
// load-order hazard at run time, but the two files still depend on each other and cannot be
// understood, moved or split apart one at a time. Shared types go into a file of their own.
//
// The package names (@raft-cqrs/raft, @raft-cqrs/raft/transport, ...) resolve through the paths of
// tsconfig.json to the sources under libs/, as for the type-check, Jest and @swc-node/register; a
// cycle that runs through a package's entry point (index.ts) is found like any other.
//
// dependency-cruiser stays on 17.x while the project supports Node 20 (18.x needs Node 22 or later).

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle (type-only imports included): move what both sides need into a file of its own.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '(^|/)(node_modules|dist|coverage|data|chaos-results)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
