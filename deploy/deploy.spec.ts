import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PATH_METADATA } from '@nestjs/common/constants';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '@libs/config';
import { SAMPLE_ENVIRONMENT } from '@libs/testing';
import { HealthModule } from '@libs/observability';
import { HealthController } from '../libs/observability/src/health.controller';
import { environmentSchema } from '../libs/config/src/config.schema';
import { ApiModule } from '../apps/api/src/api.module';
import { WorkerModule } from '../apps/worker/src/worker.module';

/**
 * The deployment files can only be run where Docker and Kubernetes are; here they are checked
 * against the code they deploy: routes, ports, variable names, scripts and entry points.
 */
const ROOT = path.join(__dirname, '..');
const K8S = path.join(__dirname, 'k8s');

type Node = Record<string, unknown>;

function yamlDocuments(file: string): Node[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    expect(document.errors).toEqual([]);
    return document.toJS() as Node;
  });
}

const manifests = readdirSync(K8S)
  .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
  .flatMap((name) => yamlDocuments(path.join(K8S, name)).map((doc) => ({ file: name, doc })));
const compose = yamlDocuments(path.join(ROOT, 'docker-compose.yml'))[0];
const packageJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};
const nestCli = JSON.parse(readFileSync(path.join(ROOT, 'nest-cli.json'), 'utf8')) as {
  projects: Record<string, { type: string; root: string; entryFile: string }>;
};

const variables = new Set(Object.keys(environmentSchema.innerType().shape));
const schemaDefault = (name: 'API_PORT' | 'WORKER_PORT'): number =>
  environmentSchema.innerType().shape[name].parse(undefined);

function kinds(kind: string): Node[] {
  return manifests.filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc);
}

function named(kind: string, name: string): Node {
  const found = kinds(kind).find((doc) => (doc.metadata as Node).name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in deploy/k8s`);
  return found;
}

interface Container {
  name: string;
  command?: string[];
  ports?: Array<{ name: string; containerPort: number }>;
  env?: Array<{ name: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  livenessProbe?: { httpGet: { path: string; port: string | number } };
}

function podSpec(workload: Node): { containers: Container[] } {
  return ((workload.spec as Node).template as Node).spec as { containers: Container[] };
}

/** The routes the health controller serves, read from Nest's own route metadata. */
function healthRoutes(): string[] {
  const base = Reflect.getMetadata(PATH_METADATA, HealthController) as string;
  return Object.getOwnPropertyNames(HealthController.prototype)
    .map((method) =>
      Reflect.getMetadata(PATH_METADATA, HealthController.prototype[method as 'live']),
    )
    .filter((route): route is string => typeof route === 'string')
    .map((route) => `/${base}/${route}`);
}

/**
 * `node [flags] dist/apps/<name>/main.js` must be the output of a Nest application in
 * nest-cli.json, started with the node flags of `npm run start:<name>` (the worker's heap
 * sizes), which are also what the tests and the bench run it with.
 */
function expectBuiltEntryPoint(command: string[]): void {
  expect(command[0]).toBe('node');
  const entry = command[command.length - 1] ?? '';
  const match = /^dist\/apps\/([a-z-]+)\/main\.js$/.exec(entry);
  expect(match).not.toBeNull();
  const start = packageJson.scripts[`start:${match?.[1]}`];
  if (start !== undefined) expect(command.join(' ')).toBe(start);
  const project = nestCli.projects[match?.[1] ?? ''];
  expect(project).toMatchObject({
    type: 'application',
    root: `apps/${match?.[1]}`,
    entryFile: 'main',
  });
  const builds = Object.values(packageJson.scripts).join(' && ');
  expect(builds).toContain(`nest build ${match?.[1]}`);
}

const config = loadConfig({ ...SAMPLE_ENVIRONMENT });

describe('Kubernetes manifests (deploy/k8s)', () => {
  const apps = [
    { app: 'api', deployment: 'kafka-webhooks-api', port: 'API_PORT', module: ApiModule },
    {
      app: 'worker',
      deployment: 'kafka-webhooks-worker',
      port: 'WORKER_PORT',
      module: WorkerModule,
    },
  ] as const;

  it('parses, and every document has a kind and a name', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(10);
    for (const { file, doc } of manifests) {
      expect([file, typeof doc.kind, typeof (doc.metadata as Node)?.name]).toEqual([
        file,
        'string',
        'string',
      ]);
    }
  });

  it.each(apps)(
    '$app probes real routes on the port the app listens on by default',
    ({ deployment, port, module }) => {
      // The app serves the health routes only if it imports the module that has them.
      expect(module.register(config).imports).toContain(HealthModule);
      const routes = healthRoutes();
      expect(routes).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));

      const [container] = podSpec(named('Deployment', deployment)).containers;
      expect(container.readinessProbe?.httpGet.path).toBe('/health/ready');
      expect(container.livenessProbe?.httpGet.path).toBe('/health/live');
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const target = probe?.httpGet.port;
        const containerPort =
          typeof target === 'number'
            ? target
            : container.ports?.find((entry) => entry.name === target)?.containerPort;
        expect(containerPort).toBe(schemaDefault(port));
      }
      const configMap = named('ConfigMap', 'kafka-webhooks-config').data as Record<string, string>;
      if (configMap[port]) expect(Number(configMap[port])).toBe(schemaDefault(port));
    },
  );

  it.each(apps)('$app runs a built entry point', ({ deployment }) => {
    const [container] = podSpec(named('Deployment', deployment)).containers;
    expectBuiltEntryPoint(container.command ?? []);
  });

  it('runs the migrations as a Job with the compiled migration entry point', () => {
    const [container] = podSpec(named('Job', 'kafka-webhooks-migrate')).containers;
    expectBuiltEntryPoint(container.command ?? []);
    // The entry point exits without them: the data migrations encrypt with the apps' keys.
    expect((container.env ?? []).map((entry) => entry.name).sort()).toEqual([
      'DATABASE_URL',
      'ENCRYPTION_KEYS',
    ]);
    const secret = named('Secret', 'kafka-webhooks-secrets').stringData as Record<string, string>;
    expect(Object.keys(secret)).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'ENCRYPTION_KEYS']),
    );
  });

  it('names only variables the config schema knows', () => {
    const names: string[] = [];
    for (const doc of kinds('ConfigMap')) names.push(...Object.keys(doc.data as Node));
    for (const doc of kinds('Secret')) names.push(...Object.keys(doc.stringData as Node));
    for (const doc of [...kinds('Deployment'), ...kinds('Job')]) {
      for (const container of podSpec(doc).containers) {
        names.push(...(container.env ?? []).map((entry) => entry.name));
      }
    }
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((name) => !variables.has(name))).toEqual([]);
  });

  it('keeps every pod off root and the deployments behind a disruption budget', () => {
    for (const doc of [...kinds('Deployment'), ...kinds('Job')]) {
      const spec = ((doc.spec as Node).template as Node).spec as Node;
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    }
    const protectedApps = kinds('PodDisruptionBudget').map(
      (pdb) =>
        ((pdb.spec as Node).selector as { matchLabels: Node }).matchLabels[
          'app.kubernetes.io/name'
        ],
    );
    expect(protectedApps.sort()).toEqual(['kafka-webhooks-api', 'kafka-webhooks-worker']);
  });

  it('scales the workers on the consumer group lag, up to the partition count', () => {
    const scaled = named('ScaledObject', 'kafka-webhooks-worker').spec as {
      scaleTargetRef: { name: string };
      maxReplicaCount: number;
      triggers: Array<{ type: string; metadata: Record<string, string> }>;
    };
    const configMap = named('ConfigMap', 'kafka-webhooks-config').data as Record<string, string>;
    expect(scaled.scaleTargetRef.name).toBe('kafka-webhooks-worker');
    expect(scaled.maxReplicaCount).toBe(Number(configMap.KAFKA_TOPIC_PARTITIONS));
    expect(scaled.triggers).toHaveLength(1);
    expect(scaled.triggers[0].type).toBe('kafka');
    expect(scaled.triggers[0].metadata).toMatchObject({
      consumerGroup: configMap.KAFKA_CONSUMER_GROUP,
      topic: configMap.KAFKA_TOPIC,
    });
  });
});

describe('docker-compose.yml', () => {
  const services = compose.services as Record<
    string,
    {
      command?: string[];
      environment?: Record<string, string>;
      ports?: string[];
      build?: string;
      image?: string;
    }
  >;

  it('runs Kafka, Postgres, the migrations, the api and the worker', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'kafka', 'migrate', 'postgres', 'worker']);
    for (const name of ['migrate', 'api', 'worker']) {
      expect([name, services[name].build, services[name].image]).toEqual([
        name,
        '.',
        'kafka-webhooks',
      ]);
    }
  });

  it.each([
    ['api', 'API_PORT'],
    ['worker', 'WORKER_PORT'],
  ] as const)('%s runs a built entry point and publishes its default port', (name, port) => {
    const service = services[name];
    expectBuiltEntryPoint(service.command ?? []);
    const published = (service.ports ?? []).map((mapping) => Number(mapping.split(':').pop()));
    expect(published).toEqual([schemaDefault(port)]);
    expect(Number(service.environment?.[port])).toBe(schemaDefault(port));
  });

  it('gives the migrations the database and the encryption keys', () => {
    expect(Object.keys(services.migrate.environment ?? {}).sort()).toEqual([
      'DATABASE_URL',
      'ENCRYPTION_KEYS',
    ]);
    for (const name of ['api', 'worker']) {
      expect([name, services[name].environment?.ENCRYPTION_KEYS]).toEqual([
        name,
        expect.stringMatching(/^\$\{ENCRYPTION_KEYS:\?/),
      ]);
    }
  });

  it('gives the apps only variables the config schema knows', () => {
    for (const name of ['api', 'worker', 'migrate']) {
      const unknown = Object.keys(services[name].environment ?? {}).filter(
        (v) => !variables.has(v),
      );
      expect([name, unknown]).toEqual([name, []]);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

  it('builds in one stage and runs production dependencies as a non-root user in another', () => {
    const stages = dockerfile.match(/^FROM .+$/gm) ?? [];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(runtime).toMatch(/^USER 1000(:1000)?$/m);
  });

  it('runs only npm scripts that exist and a built entry point', () => {
    const scripts = [...dockerfile.matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1]);
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.filter((script) => !packageJson.scripts[script])).toEqual([]);
    const cmd = /^CMD (\[.+\])$/m.exec(dockerfile);
    expectBuiltEntryPoint(JSON.parse(cmd?.[1] ?? '[]') as string[]);
  });
});
