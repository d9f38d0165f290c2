import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/plugins'],
  testMatch: ['**/*.test.ts', '**/*.test.tsx'],
  transform: {
    '^.+\\.(t|j)sx?$|^.+\\.mjs$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript', tsx: true }, target: 'es2022', transform: { react: { runtime: 'automatic' } } },
        module: { type: 'commonjs' },
      },
    ],
  },
  // @grafana/data, @grafana/ui and @grafana/runtime require a few ESM-only packages; compile those to CommonJS too.
  transformIgnorePatterns: [
    '/node_modules/(?!(marked|d3-[a-z-]+|internmap|ol|rbush|quickselect|@react-hookz/web|@ver0/deep\\-equal|react\\-calendar|get\\-user\\-locale|memoize|mimic\\-function|@wojtekmaj/date\\-utils)/)',
  ],
  // Stylesheets @grafana/ui imports (a bundler's business, not the tests').
  moduleNameMapper: { '\\.css$': '<rootDir>/test/frontend/style-stub.ts' },
  // Browser APIs jsdom lacks, for the frontend tests (`@jest-environment jsdom`); a no-op under node.
  setupFiles: ['<rootDir>/test/frontend/jsdom-setup.ts'],
  // Servers and child processes get real time to start; a hung test still fails.
  testTimeout: 30000,
};

export default config;
