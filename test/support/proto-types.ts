import { readdirSync } from 'node:fs';
import protobuf from 'protobufjs';
import { protoPath } from '../../src/wire/registry.js';

/** Every message type declared in src/wire/proto (the .proto files `keep` accepts), resolved. */
export function protoTypes(keep: (file: string) => boolean = () => true): protobuf.Type[] {
  const root = new protobuf.Root();
  for (const f of readdirSync(protoPath('')).filter((x) => x.endsWith('.proto') && keep(x)).sort()) root.loadSync(protoPath(f), { keepCase: false });
  root.resolveAll();
  const types: protobuf.Type[] = [];
  const collect = (ns: protobuf.ReflectionObject): void => {
    if (ns instanceof protobuf.Type) types.push(ns);
    if (ns instanceof protobuf.Namespace) for (const c of ns.nestedArray) collect(c);
  };
  collect(root);
  return types;
}
