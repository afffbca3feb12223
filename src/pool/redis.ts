import { Redis } from 'ioredis';
import { UserError } from '../errors.js';

/** `--redis`: redis://[user:password@]host[:port][/db], or rediss:// for TLS. */
export function checkRedisUrl(url: string, flag = '--redis'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${flag}: expected redis://[user:password@]host[:port][/db] or rediss://… (TLS), got "${url}"`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new UserError(`${flag}: expected a redis:// or rediss:// URL, got "${showRedis(url)}"`);
  if (!parsed.hostname) throw new UserError(`${flag}: expected a host in "${showRedis(url)}"`);
  return url;
}

/** The URL without its password, for messages and logs. */
export function showRedis(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * A connection that reconnects on its own, every 0.2–2 s, for ever: callers decide how long an
 * outage may last. Commands wait while it is down (BullMQ's blocking reads need this). `onDown`
 * hears the reason each time it goes down, `onUp` each time it is back.
 */
export function openRedis(url: string, events: { onDown?(reason: string): void; onUp?(): void } = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(200 * times, 2000), lazyConnect: false });
  let up = false;
  let lastReason = '';
  redis.on('ready', () => {
    up = true;
    events.onUp?.();
  });
  redis.on('error', (err: Error & { code?: string }) => {
    lastReason = err.code ?? err.message.split('\n')[0];
  });
  redis.on('close', () => {
    if (up) events.onDown?.(lastReason || 'connection closed');
    up = false;
  });
  return redis;
}

/** Errors that waiting does not mend: a wrong or missing password, a certificate this machine does not trust. */
const FATAL = /^(WRONGPASS|NOAUTH|ERR invalid password|ERR AUTH)|CERT|self[- ]signed|unable to verify/i;

/**
 * Null once the connection is ready, else why it is not: after `ms` of refused or unanswered
 * connections, or at once when Redis refuses the password or TLS fails to verify.
 */
export async function untilReady(redis: Redis, ms: number): Promise<string | null> {
  if (redis.status === 'ready') return null;
  let reason = 'no answer';
  let settle: (reason: string | null) => void = () => undefined;
  const onError = (err: Error & { code?: string }) => {
    reason = err.code && !/^ERR/.test(err.code) ? err.code : err.message.split('\n')[0];
    if (FATAL.test(reason) || FATAL.test(err.message)) settle(reason);
  };
  redis.on('error', onError);
  try {
    return await new Promise<string | null>((done) => {
      const timer = setTimeout(() => done(reason), ms);
      settle = (r) => {
        clearTimeout(timer);
        done(r);
      };
      redis.once('ready', () => settle(null));
    });
  } finally {
    redis.off('error', onError);
  }
}
