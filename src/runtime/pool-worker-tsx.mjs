// The WorkPool worker's entry when govfs runs from TypeScript (tsx): a worker does not inherit
// tsx from `node --import tsx`, so this registers it before loading pool-worker.ts.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./pool-worker.ts');
export default worker.default;
