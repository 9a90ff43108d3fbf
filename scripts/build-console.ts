/**
 * Builds the delivery console into dist/console, where the api serves it (GET /console):
 * type-checks it against the API types generated from the api's OpenAPI document (so a
 * changed route fails here, not in the browser), then bundles it with esbuild.
 * Part of `npm run build`.
 */
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './infra/local';
import { formatSeconds, runInherited } from './infra/process';

const consoleDir = path.join(repoRoot, 'apps', 'console');
const outDir = path.join(repoRoot, 'dist', 'console');

async function main(): Promise<void> {
  const started = Date.now();
  await runInherited(path.join(repoRoot, 'node_modules', '.bin', 'tsc'), [
    '--noEmit',
    '-p',
    path.join(consoleDir, 'tsconfig.json'),
  ]);
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: {
      console: path.join(consoleDir, 'src', 'main.tsx'),
    },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  await build({
    entryPoints: { console: path.join(consoleDir, 'src', 'console.css') },
    outdir: outDir,
    bundle: true,
    minify: true,
    logLevel: 'warning',
  });
  await copyFile(path.join(consoleDir, 'index.html'), path.join(outDir, 'index.html'));
  console.log(`console built into dist/console in ${formatSeconds(Date.now() - started)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
