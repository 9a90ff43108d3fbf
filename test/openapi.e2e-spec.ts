import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AppProcess,
  IsolatedDatabase,
  createIsolatedDatabase,
  testEnvironment,
} from '@libs/testing';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

/** Committed, so the console's type-check (part of `npm run build`) sees the api's routes. */
const GENERATED_TYPES = join(ROOT, 'apps', 'console', 'src', 'api', 'openapi.generated.ts');

interface LintProblem {
  ruleId: string;
  severity: string;
  message: string;
  location: { pointer: string }[];
}

interface Operation {
  responses: Record<string, unknown>;
}

describe('the OpenAPI document the api serves (e2e)', () => {
  let database: IsolatedDatabase;
  let api: AppProcess;
  let dir: string;
  let documentPath: string;
  let document: { paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'webhooks-openapi-'));
    database = await createIsolatedDatabase();
    api = await AppProcess.start('api', testEnvironment({ DATABASE_URL: database.url }));
    const text = await (await fetch(`${api.url}/docs-json`)).text();
    document = JSON.parse(text);
    documentPath = join(dir, 'openapi.json');
    await writeFile(documentPath, text);
  });

  afterAll(async () => {
    await api?.stop();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes redocly lint (recommended rules) with no error and no warning', async () => {
    const { stdout } = await run(
      bin('redocly'),
      ['lint', documentPath, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json'],
      {
        cwd: ROOT,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const { problems } = JSON.parse(stdout) as { problems: LintProblem[] };
    expect(
      problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`),
    ).toEqual([]);
  });

  it('documents a client error on every /v1 operation (the rule redocly.yaml turns off for the probes)', () => {
    const without = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, operations]) =>
        Object.entries(operations)
          .filter(([, operation]) => !Object.keys(operation.responses).some((s) => /^4/.test(s)))
          .map(([method]) => `${method} ${path}`),
      );
    expect(without).toEqual([]);
  });

  it('matches the API types the console is built with', async () => {
    const fresh = join(dir, 'openapi.generated.ts');
    await run(
      bin('openapi-typescript'),
      [documentPath, '--default-non-nullable=false', '--output', fresh],
      { cwd: ROOT },
    );
    const generated = await readFile(fresh, 'utf8');
    if (process.env.UPDATE_API_TYPES === '1') await writeFile(GENERATED_TYPES, generated);
    const committed = await readFile(GENERATED_TYPES, 'utf8').catch(() => '');
    // When this fails, the api's routes changed: regenerate the types with
    // `UPDATE_API_TYPES=1 npm test -- test/openapi.e2e-spec.ts`, then fix what the console's
    // type-check (npm run build) reports.
    expect(committed).toBe(generated);
  });
});
