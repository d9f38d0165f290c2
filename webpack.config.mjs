// The frontend bundle, as Grafana's create-plugin builds it: dist/module.js is AMD, and
// Grafana's shared libraries are externals so the plugin uses the running Grafana's copies.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import CopyWebpackPlugin from 'copy-webpack-plugin';

const root = import.meta.dirname;
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

function fillPluginJson(text) {
  return text.replaceAll('%VERSION%', version).replaceAll('%TODAY%', new Date().toISOString().slice(0, 10));
}
const EXTERNALS = ['react', 'react-dom', 'react/jsx-runtime', '@grafana/data', '@grafana/runtime', '@grafana/ui', 'rxjs', 'rxjs/operators'];

export default (_env, argv) => {
  const production = argv.mode !== 'development';
  return {
    mode: production ? 'production' : 'development',
    target: 'web',
    context: root,
    entry: { module: './src/frontend/module.ts' },
    devtool: production ? 'source-map' : 'eval-source-map',
    output: {
      path: path.resolve(root, 'dist'),
      filename: '[name].js',
      library: { type: 'amd' },
      // Grafana serves plugin files from public/plugins/<id>/.
      publicPath: 'public/plugins/scadalive-scada-datasource/',
      clean: { keep: /^sidecar\// }, // dist/sidecar belongs to the sidecar build
    },
    externals: EXTERNALS,
    resolve: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
    module: {
      rules: [
        {
          test: /\.[jt]sx?$/,
          exclude: /node_modules/,
          use: {
            loader: 'swc-loader',
            options: {
              jsc: {
                parser: { syntax: 'typescript', tsx: true },
                transform: { react: { runtime: 'automatic' } },
                target: 'es2020',
              },
            },
          },
        },
      ],
    },
    plugins: [
      new CopyWebpackPlugin({
        patterns: [
          // As create-plugin does: the version and build date are filled in at build time.
          { from: 'plugin.json', to: '.', transform: (content) => fillPluginJson(content.toString()) },
          { from: 'README.md', to: '.' },
          { from: 'src/frontend/img', to: 'img' },
          // plugin.json's screenshots and the README's pictures, for Grafana's plugin page.
          { from: 'docs/screenshots', to: 'docs/screenshots' },
        ],
      }),
    ],
    performance: { hints: false },
  };
};
