// Loads bench/snapshot-pool-task.ts in a piscina worker: the pool's workers do not inherit
// tsx from `node --import tsx`, so this shim registers it before importing the TypeScript.
import { register } from 'tsx/esm/api';

register();
const task = await import('./snapshot-pool-task.ts');
export const roundTrip = task.roundTrip;
export const fromLog = task.fromLog;
