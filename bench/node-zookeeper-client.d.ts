// The part of node-zookeeper-client (no types of its own) that `bench peers` uses.
declare module 'node-zookeeper-client' {
  type Callback = (error: Error | null) => void;
  export interface Client {
    connect(): void;
    close(): void;
    once(event: 'connected' | 'disconnected' | 'expired', listener: () => void): void;
    create(path: string, callback: (error: Error | null, path: string) => void): void;
    mkdirp(path: string, callback: (error: Error | null, path: string) => void): void;
    getChildren(path: string, callback: (error: Error | null, children: string[]) => void): void;
    removeRecursive?(path: string, callback: Callback): void;
  }
  export function createClient(connectionString: string, options?: { sessionTimeout?: number; spinDelay?: number; retries?: number }): Client;
  const zookeeper: { createClient: typeof createClient };
  export default zookeeper;
}
