/** Learning rate at optimizer step `step` (0-based): linear warmup, then constant, linear or cosine decay to `minRatio·lr`. */
export function learningRateAt(
  step: number,
  options: { learningRate: number; schedule: 'constant' | 'linear' | 'cosine'; warmupSteps: number; totalSteps: number; minLrRatio: number },
): number {
  const { learningRate: lr, schedule, warmupSteps, totalSteps, minLrRatio } = options;
  if (warmupSteps > 0 && step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  if (schedule === 'constant') return lr;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / decaySteps));
  const min = lr * minLrRatio;
  if (schedule === 'linear') return min + (lr - min) * (1 - progress);
  return min + (lr - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
