/**
 * How many new evaluations one ask may compute: what the run's cap leaves, less what the strategy
 * reserves for its later asks. Candidates past it are told UNSCORED, so a cap is never exceeded.
 */
export function evaluationsAllowed(left: number, reserve = 0): number {
  return Math.max(0, left - reserve);
}
