import { UserError } from '../errors.js';
import type { Manifest } from './manifest.js';
import { outlierRatios, type OutlierRatios, type OutlierScope } from './outliers.js';
import { defaultCalibrationLength, openTarget } from './targets.js';

// What the per-layer baselines read off a level database's model before they run: OWL's outlier
// ratios and ShortGPT's block influence, one value per unit of the database.

/**
 * The outlier ratios of a sparsity database's units, on the calibration data it was built with
 * (or, for a magnitude database, which read none, 32 samples of the model's own length, the
 * database default). Refuses other databases: OWL allocates sparsity.
 */
export async function databaseOutlierRatios(manifest: Manifest, modelDir: string, multipliers: number[], scope: OutlierScope, onSample: (done: number, total: number) => void = () => {}): Promise<OutlierRatios[]> {
  if (manifest.compression.type !== 'sparsity') throw new UserError(`owl allocates sparsity; this level database holds ${manifest.compression.type} levels (use dp or uniform)`);
  const windows = manifest.calibration?.windows ?? 32;
  const length = manifest.calibration?.length ?? defaultCalibrationLength(modelDir);
  const target = await openTarget(modelDir);
  const { grams } = await target.calibrate(windows, length, (done) => onSample(done, windows));
  return outlierRatios(target, grams, manifest.units.map((u) => u.weights[0]), multipliers, scope);
}

/**
 * The block influence of a drop database's units, on 32 calibration windows of the model's own
 * length (drop databases read no calibration data of their own). Refuses other databases.
 */
export async function databaseBlockInfluence(manifest: Manifest, modelDir: string): Promise<number[]> {
  const c = manifest.compression;
  if (c.type !== 'drop') throw new UserError(`block-influence ranks sub-blocks to drop; this level database holds ${c.type} levels (use owl, dp or uniform)`);
  const target = await openTarget(modelDir);
  const names = target.dropUnits(c.granularity).map((u) => u.name);
  const influence = target.blockInfluence(c.granularity, 32, defaultCalibrationLength(modelDir));
  // The database's units are a selection of the model's, in the model's order.
  return manifest.units.map((unit) => {
    const i = names.indexOf(unit.name);
    if (i < 0) throw new Error(`bug: drop unit ${unit.name} is not a sub-block of the model`);
    return influence[i];
  });
}
