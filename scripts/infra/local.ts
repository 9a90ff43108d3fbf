/** The developer's local infrastructure, shared by `npm run up` and `npm run infra:up|down`. */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startBroker, stopBroker, type BrokerStatus } from './kafka-broker';
import { ensureDatabase, startEmbeddedPostgres, stopEmbeddedPostgres } from './postgres';

export const repoRoot = path.resolve(__dirname, '..', '..');

// Git-ignored; the data survives restarts.
const localDir = path.join(repoRoot, '.local');

export const LOCAL_KAFKA = {
  dataDir: path.join(localDir, 'kafka'),
  port: 19092,
  controllerPort: 19093,
};

/**
 * A second local broker, for trying the production settings: TLS with a throwaway CA and
 * SASL/SCRAM-SHA-512 on 19094 (its own data dir, since SCRAM users are made at format time).
 */
export const LOCAL_SECURE_KAFKA = {
  dataDir: path.join(localDir, 'kafka-sasl-ssl'),
  port: 19095,
  controllerPort: 19096,
  saslSslPort: 19094,
  username: 'kafka-webhooks',
};

export const LOCAL_POSTGRES = {
  baseDir: path.join(localDir, 'postgres'),
  port: 15432,
  database: 'webhooks',
};

export const ADMIN_API_KEY_FILE = path.join(localDir, 'admin-api-key');
/** ENCRYPTION_KEYS of `npm run up`: losing it makes the stored webhook secrets unreadable. */
export const ENCRYPTION_KEYS_FILE = path.join(localDir, 'encryption-keys');

/** Starts the local broker, or reuses the one already answering on its port. */
export async function startLocalKafka(detached: boolean): Promise<BrokerStatus> {
  const status = await startBroker({ ...LOCAL_KAFKA, detached });
  if (!status.startedHere) {
    console.error(`[kafka] using the broker already running on ${status.brokers}`);
  }
  return status;
}

/** Starts (or reuses) the SASL_SSL broker; returns the variables that make the apps use it. */
export async function startLocalSecureKafka(detached: boolean): Promise<Record<string, string>> {
  const { dataDir, port, controllerPort, saslSslPort, username } = LOCAL_SECURE_KAFKA;
  await mkdir(dataDir, { recursive: true });
  const passwordFile = path.join(dataDir, 'scram-password');
  let password = (await readFile(passwordFile, 'utf8').catch(() => '')).trim();
  if (!password) {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  const status = await startBroker({
    dataDir,
    port,
    controllerPort,
    detached,
    saslSsl: { port: saslSslPort, users: [{ name: username, password }] },
  });
  if (!status.saslSsl) throw new Error('the broker started without its SASL_SSL listener');
  return {
    KAFKA_BROKERS: status.saslSsl.brokers,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: status.saslSsl.caFile,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: username,
    KAFKA_SASL_PASSWORD: password,
  };
}

export async function stopLocalSecureKafka(): Promise<boolean> {
  return stopBroker(LOCAL_SECURE_KAFKA.dataDir);
}

export interface LocalPostgres {
  databaseUrl: string;
  startedHere: boolean;
}

/** Starts the local embedded PostgreSQL, or reuses it, and makes sure its database exists. */
export async function startLocalPostgres(detached: boolean): Promise<LocalPostgres> {
  const { baseDir, port, database } = LOCAL_POSTGRES;
  const status = await startEmbeddedPostgres({ baseDir, port, durable: true, detached });
  if (!status.startedHere) {
    console.error(`[postgres] using the embedded server already running on 127.0.0.1:${port}`);
  }
  const databaseUrl = await ensureDatabase(status.serverUrl, database);
  return { databaseUrl, startedHere: status.startedHere };
}

export async function stopLocalKafka(): Promise<boolean> {
  return stopBroker(LOCAL_KAFKA.dataDir);
}

export async function stopLocalPostgres(): Promise<boolean> {
  return stopEmbeddedPostgres(LOCAL_POSTGRES.baseDir);
}
