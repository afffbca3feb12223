import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isLayersModelDir, shardNames } from '../models/layers-model.js';
import { UserError } from '../errors.js';

/** The files that define a model: what a database and a run are tied to by hash. */
export function modelFiles(dir: string): string[] {
  if (isLayersModelDir(dir)) return ['model.json', ...shardNames(dir)];
  return ['config.json', 'model.safetensors', 'tokenizer.json'].filter((f) => f !== 'tokenizer.json' || existsSync(join(dir, f)));
}

export async function modelHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const name of modelFiles(dir)) {
    if (!existsSync(join(dir, name))) throw new UserError(`${join(dir, name)}: no such file (a model directory needs ${isLayersModelDir(dir) ? 'model.json and its weight shards' : 'config.json and model.safetensors'})`);
    h.update(`${name}\0`);
    for await (const chunk of createReadStream(join(dir, name))) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

export async function fileHash(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Refuses a model directory whose files no longer have the hash a run recorded when it began. */
export async function checkModelUnchanged(dir: string, recorded: string, what: string): Promise<void> {
  const actual = await modelHash(dir);
  if (actual !== recorded) throw new UserError(`${dir}: the ${what} has changed since the run began (hash ${actual.slice(0, 12)}…, the run recorded ${recorded.slice(0, 12)}…)`);
}
