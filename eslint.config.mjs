// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '**/data/**', '**/chaos-results/**'],
  },
  eslint.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts', '**/test/**/*.ts'],
    languageOptions: {
      globals: { ...globals.jest },
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The sample apps' web pages: plain scripts run by the browser.
    files: ['apps/*/public/**/*.js', 'libs/raft-cluster/ui/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser } },
  },
  {
    // Apps, tests, benchmarks and tools use the packages as a user does: by name, through the
    // entry points their package.json exports, never by path into libs/.
    files: ['apps/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '(^|/)libs/', message: 'import @raft-cqrs/raft or @raft-cqrs/raft-cluster by name' },
            { regex: '^@raft-cqrs/raft/(?!(storage|transport|testing)$)', message: 'not an entry point of @raft-cqrs/raft (., storage, transport, testing)' },
            { regex: '^@raft-cqrs/raft-cluster/(?!(testing|groups)$)', message: 'not an entry point of @raft-cqrs/raft-cluster (., testing, groups)' },
          ],
        },
      ],
    },
  },
  {
    // The packed-install test's app checks at run time that internals stay out of reach.
    files: ['test/package/app/src/self-check.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
