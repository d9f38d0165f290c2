// Flat config: typescript-eslint's recommended rules over everything we write, and the
// layering of ../shared/DESIGN.md: imports point down only.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layers from top to bottom, and what each may not import (a relative import naming one of
 * those directories). The sidecar's composition roots (main.ts, sidecar.ts, config.ts,
 * declared-model.ts) and tests see everything; core and timeseries are leaves every layer
 * may use, with errors.ts and validation.ts.
 */
const LAYERS = [
  ['src/sidecar/server', ['frontend']],
  ['src/sidecar/handlers', ['server', 'datasources', 'scada', 'store', 'frontend']],
  ['src/sidecar/registry', ['server', 'handlers', 'datasources', 'scada', 'store', 'frontend']],
  ['src/sidecar/datasources', ['server', 'handlers', 'frontend']],
  ['src/sidecar/scada', ['server', 'handlers', 'registry', 'datasources', 'frontend']],
  ['src/sidecar/store', ['server', 'handlers', 'registry', 'datasources', 'scada', 'frontend']],
  ['src/sidecar/timeseries', ['server', 'handlers', 'registry', 'datasources', 'scada', 'store', 'frontend']],
  ['src/sidecar/core', ['server', 'handlers', 'registry', 'datasources', 'scada', 'store', 'timeseries', 'frontend']],
  ['src/frontend', ['sidecar']],
  ['src/common', ['sidecar', 'frontend']],
];

const layerRules = LAYERS.map(([dir, forbidden]) => ({
  files: [`${dir}/**/*.ts`, `${dir}/**/*.tsx`],
  ignores: ['**/*.test.ts', '**/*.test.tsx'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^\\.{1,2}/(?:.*/)?(?:${forbidden.join('|')})(?:/|$)`,
            message: `${dir} may not import ${forbidden.join(', ')}: imports point down the layers of DESIGN.md (transport → handlers → registry → data sources → scada → store; core and timeseries below all).`,
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['node_modules/', 'build/', 'dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-self-compare': 'off',
    },
  },
  ...layerRules,
);
