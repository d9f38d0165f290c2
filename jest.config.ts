import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/plugins'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$|^.+\\.mjs$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript', tsx: true }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  // @grafana/data requires a few ESM-only packages; compile those to CommonJS too.
  transformIgnorePatterns: ['/node_modules/(?!(marked|d3-[a-z-]+|internmap|ol|rbush|quickselect)/)'],
  // Servers and child processes get real time to start; a hung test still fails.
  testTimeout: 30000,
};

export default config;
