import { Option, type Command, InvalidArgumentError } from 'commander';
import { UserError } from '../errors.js';
import { checkRedisUrl, showRedis } from '../pool/redis.js';
import { DEFAULT_QUEUE } from '../pool/remote-protocol.js';
import { RemoteWorker, parseCommand } from '../pool/remote-worker.js';
import type { Executor } from './execute.js';

/** What `run`, `resume` and `baseline` take to send their evaluations to remote workers. */
export interface RemoteFlags {
  redis?: string;
  queue: string;
  redisWait: number;
}

const redisUrl = (value: string) => {
  try {
    return checkRedisUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message.replace(/^--redis: /, ''));
  }
};

const seconds = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
};

const queueName = (value: string) => {
  if (!/^[A-Za-z0-9_.-]+$/.test(value)) throw new InvalidArgumentError('expected letters, digits, "_", "." or "-"');
  return value;
};

const queueOption = () => new Option('--queue <name>', 'the job queue in that Redis').argParser(queueName).default(DEFAULT_QUEUE);

/** `--redis`, `--queue` and `--redis-wait`, for the commands that run searches. */
export function withRemoteOptions(command: Command): Command {
  return command
    .addOption(new Option('--redis <url>', 'evaluate on remote workers (evosearch worker) through this Redis: redis://[user:password@]host:port, or rediss:// for TLS').argParser(redisUrl).conflicts('workers'))
    .addOption(queueOption())
    .addOption(new Option('--redis-wait <seconds>', 'how long Redis may be unreachable before the run stops (resumable)').argParser(seconds).default(60));
}

export const showExecutor = (e: Executor): string => ('workers' in e ? `${e.workers} workers` : `remote workers on ${showRedis(e.redis)}, queue "${e.queue}"`);

const collect = (value: string, previous: string[]) => [...previous, value];

export function addWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('evaluate the jobs that runs started with --redis send, until stopped (Ctrl-C finishes the jobs in hand)')
    .requiredOption('--redis <url>', 'the Redis the coordinators use: redis://[user:password@]host:port, or rediss:// for TLS', redisUrl)
    .addOption(queueOption())
    .addOption(new Option('--device <device>', 'cpu, or cuda:N: model fitnesses run on GPU N (start one worker per GPU)').argParser((v) => (/^(cpu|cuda:\d+)$/.test(v) ? v : fail('expected cpu or cuda:N'))))
    .option('--concurrency <n>', 'jobs evaluated at once, each in its own thread', (v) => (Number.isInteger(Number(v)) && Number(v) >= 1 ? Number(v) : fail('expected a positive integer')), 1)
    .option('--allow-module <path>', 'a fitness module this worker may load (repeatable); others are refused', collect, [])
    .option('--allow-command <argv>', 'a fitness command this worker may start, as words or a JSON array (repeatable); others are refused', collect, [])
    .option('--data-root <dir>', "where this machine keeps the files that lie under the coordinator's working directory")
    .action(async (opts: { redis: string; queue: string; device?: string; concurrency: number; allowModule: string[]; allowCommand: string[]; dataRoot?: string }) => {
      const allowCommands = opts.allowCommand.map((text) => {
        try {
          return parseCommand(text);
        } catch (err) {
          throw new UserError(`--allow-command: ${(err as Error).message}, got ${text}`);
        }
      });
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const worker = RemoteWorker.start({ url: opts.redis, queue: opts.queue, concurrency: opts.concurrency, device: opts.device, allowModules: opts.allowModule, allowCommands, dataRoot: opts.dataRoot, log });
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          process.once('SIGINT', () => process.exit(130));
          log('stopping: finishing the jobs in hand (Ctrl-C again to stop at once; they go to other workers after their lock time)');
          void worker.close().then(done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

function fail(message: string): never {
  throw new InvalidArgumentError(message);
}
