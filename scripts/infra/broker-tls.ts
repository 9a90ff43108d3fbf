/**
 * A throwaway certificate authority and a broker certificate signed by it, made with the JDK's
 * keytool (which the broker's JVM brings anyway), for a local SASL_SSL listener.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from './process';

// The stores never leave the temp or .local folder; the password only satisfies keytool.
const STORE_PASSWORD = 'local-only-changeit';
const VALIDITY_DAYS = '30';
// The apps connect to 127.0.0.1; localhost for anyone who types it.
const SUBJECT_ALT_NAMES = 'SAN=ip:127.0.0.1,dns:localhost';

export interface CertificateAuthority {
  /** PKCS12 store holding the CA's key, for signing. */
  keystore: string;
  /** The CA certificate as PEM: what KAFKA_SSL_CA_FILE points at. */
  pemFile: string;
}

export interface BrokerTls {
  ca: CertificateAuthority;
  /** PKCS12 keystore with the broker's key and its CA-signed certificate chain. */
  keystore: string;
  password: string;
}

/** Makes a CA in `dir` (kept when it already exists there). */
export async function createCertificateAuthority(
  dir: string,
  name = 'ca',
): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const ca = { keystore: path.join(dir, `${name}.p12`), pemFile: path.join(dir, `${name}.pem`) };
  if (existsSync(ca.pemFile)) return ca;
  await rm(ca.keystore, { force: true });
  await keytool([
    '-genkeypair',
    ...['-alias', 'ca', '-keyalg', 'RSA', '-keysize', '2048', '-validity', VALIDITY_DAYS],
    ...['-dname', `CN=kafka-webhooks throwaway ${name}`, '-ext', 'bc:c'],
    ...store(ca.keystore),
  ]);
  await keytool([
    '-exportcert',
    '-rfc',
    '-alias',
    'ca',
    '-file',
    ca.pemFile,
    ...store(ca.keystore),
  ]);
  return ca;
}

/** The CA and a broker keystore in `dir`, made once and reused by later starts. */
export async function ensureBrokerTls(dir: string): Promise<BrokerTls> {
  const ca = await createCertificateAuthority(dir);
  const keystore = path.join(dir, 'broker.p12');
  const tls = { ca, keystore, password: STORE_PASSWORD };
  if (existsSync(keystore)) return tls;

  const staging = path.join(dir, 'broker-staging.p12');
  const request = path.join(dir, 'broker.csr');
  const signed = path.join(dir, 'broker.crt');
  await rm(staging, { force: true });
  await keytool([
    '-genkeypair',
    ...['-alias', 'broker', '-keyalg', 'RSA', '-keysize', '2048', '-validity', VALIDITY_DAYS],
    ...['-dname', 'CN=localhost', '-ext', SUBJECT_ALT_NAMES],
    ...store(staging),
  ]);
  await keytool(['-certreq', '-alias', 'broker', '-file', request, ...store(staging)]);
  await keytool([
    '-gencert',
    ...['-alias', 'ca', '-infile', request, '-outfile', signed, '-rfc', '-validity', VALIDITY_DAYS],
    ...['-ext', SUBJECT_ALT_NAMES, '-ext', 'ku:c=digitalSignature,keyEncipherment'],
    ...['-ext', 'eku=serverAuth'],
    ...store(ca.keystore),
  ]);
  // The chain must be complete: the CA first, then the signed certificate replaces the
  // self-signed one under the broker's alias.
  await keytool([
    '-importcert',
    '-noprompt',
    '-alias',
    'ca',
    '-file',
    ca.pemFile,
    ...store(staging),
  ]);
  await keytool(['-importcert', '-alias', 'broker', '-file', signed, ...store(staging)]);
  await rm(request, { force: true });
  await rm(signed, { force: true });
  await rename(staging, keystore);
  return tls;
}

function store(file: string): string[] {
  return ['-keystore', file, '-storetype', 'PKCS12', '-storepass', STORE_PASSWORD];
}

async function keytool(args: string[]): Promise<void> {
  const result = await runCommand('keytool', args);
  if (result.code !== 0) {
    throw new Error(`keytool ${args[0]} failed (the JDK's keytool is needed):\n${result.output}`);
  }
}
