import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { CLI, ROOT } from './cli-helpers.js';

/** An unused TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A redis-server of its own on a free port (no persistence), for tests that stop Redis; every
 * other test uses the one `.ci/run` started ($EVOSEARCH_TEST_REDIS), or one of these.
 */
export async function startRedis(port?: number, args: string[] = []): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const spawnFailed = new Promise<never>((_, fail) => child.once('error', (err) => fail(new Error(`redis-server did not start (${err.message}); install Debian's redis-server (scripts/install-debian.sh)`))));
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  await Promise.race([spawnFailed, waitFor(() => /Ready to accept connections/.test(output), () => child.exitCode !== null, `redis-server on port ${p}: ${output}`)]);
  return {
    url: `redis://127.0.0.1:${p}`,
    port: p,
    stop: () => stopProcess(child),
  };
}

/**
 * A redis-server that speaks only TLS and wants `password`, with a certificate for 127.0.0.1
 * signed by a CA of its own (`ca`: the CA's PEM file, for NODE_EXTRA_CA_CERTS).
 */
export async function startTlsRedis(dir: string, password: string): Promise<RedisServer & { ca: string }> {
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr || r.error?.message}`);
  };
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=evosearch-test-ca']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('ext.cnf')]);
  const tlsPort = await freePort();
  const tls = ['--tls-port', String(tlsPort), '--tls-cert-file', file('server.pem'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.pem'), '--tls-auth-clients', 'no', '--requirepass', password];
  const server = await startRedis(undefined, tls);
  return { ...server, url: `rediss://:${password}@127.0.0.1:${tlsPort}`, port: tlsPort, ca: file('ca.pem') };
}

/** The Redis for this test file: CI's ($EVOSEARCH_TEST_REDIS), else one started here. */
export async function testRedis(): Promise<RedisServer> {
  const url = process.env.EVOSEARCH_TEST_REDIS;
  if (url) return { url, port: Number(new URL(url).port), stop: async () => undefined };
  return startRedis();
}

/** A queue name no other test uses, so that tests sharing one Redis do not take each other's jobs. */
export const uniqueQueue = (name: string) => `test-${name}-${randomBytes(4).toString('hex')}`;

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it has written to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `evosearch worker` with these flags, resolved once it is connected to Redis. */
export async function startWorker(args: string[], env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  await waitFor(() => /connected to/.test(log), () => child.exitCode !== null, `worker ${args.join(' ')}: ${log}`);
  return { child, log: () => log, stop: () => stopProcess(child) };
}

/** Polls `ready` until it holds; fails if `dead` holds first. No deadline: the test's timeout bounds it. */
export async function waitFor(ready: () => boolean | Promise<boolean>, dead: () => boolean, what: string): Promise<void> {
  for (;;) {
    if (await ready()) return;
    if (dead()) throw new Error(`exited early: ${what}`);
    await sleep(20);
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}
