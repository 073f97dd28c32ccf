// CRC-32C lives in the runtime (the chunk store's journal chains it too, runtime/storage-journal.ts).
export { crc32c, crc32cCombine } from '../runtime/crc32c.js';
