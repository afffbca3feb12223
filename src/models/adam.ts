import type * as tfType from '@tensorflow/tfjs';

type TF = typeof tfType;
type Tensor = tfType.Tensor;
type Variable = tfType.Variable;

export interface AdamSettings {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay (AdamW), applied to 2-D weights only (not to biases and LayerNorm gains). */
  weightDecay: number;
  /** Global gradient-norm clip; 0 turns it off. */
  clip: number;
}

/**
 * Adam(W) with its first and second moments as named tensors, so a checkpoint holds them and a
 * resumed run continues the exact update sequence. Returns the gradient norm before clipping.
 */
export class Adam {
  readonly m = new Map<string, Variable>();
  readonly v = new Map<string, Variable>();

  constructor(
    private readonly tf: TF,
    private readonly params: Map<string, Variable>,
    private readonly s: AdamSettings,
  ) {
    for (const [name, w] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(w), false, `adam.m.${name}`));
      this.v.set(name, tf.variable(tf.zerosLike(w), false, `adam.v.${name}`));
    }
  }

  /** One update at 1-based step `t` with learning rate `lr`. */
  apply(grads: Record<string, Tensor>, t: number, lr: number): number {
    const { tf, s } = this;
    return tf.tidy(() => {
      const norm = Math.sqrt(Object.values(grads).reduce((acc, g) => acc + tf.sum(tf.square(g)).dataSync()[0], 0));
      const scale = s.clip > 0 && norm > s.clip ? s.clip / norm : 1;
      const c1 = 1 - s.beta1 ** t;
      const c2 = 1 - s.beta2 ** t;
      for (const [name, w] of this.params) {
        const g = grads[name].mul(scale);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(m.mul(s.beta1).add(g.mul(1 - s.beta1)));
        v.assign(v.mul(s.beta2).add(g.square().mul(1 - s.beta2)));
        let update = m.div(c1).div(v.div(c2).sqrt().add(s.epsilon));
        // Decay only 2-D weights (matrices and embeddings), as nanoGPT does; gains and biases keep their scale.
        if (s.weightDecay > 0 && w.rank === 2) update = update.add(w.mul(s.weightDecay));
        w.assign(w.sub(update.mul(lr)));
      }
      return norm;
    });
  }
}

/** Learning rate at 0-based step t of `steps`: linear warm-up over `warmup` steps, then cosine decay from `peak` to `floor` at the last step. */
export function warmupCosine(t: number, steps: number, warmup: number, peak: number, floor: number): number {
  if (t < warmup) return (peak * (t + 1)) / warmup;
  const progress = Math.min(1, (t - warmup) / Math.max(1, steps - warmup));
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}

/** A student's schedule: warm-up over the first tenth of the steps, then cosine decay to a tenth of the peak. */
export function studentLearningRate(t: number, steps: number, peak: number): number {
  return warmupCosine(t, steps, Math.max(1, Math.round(steps / 10)), peak, peak / 10);
}
