// log.proto must load where protobufjs has no `fs` of its own: inside the esbuild bundle of the
// command line, Root.loadSync failed, and `govfs cluster` never got a cluster order into its
// log (the president retried every second; the root ministry was never appointed).

import protobuf from 'protobufjs';
import { expect, it } from 'vitest';

it('a cluster order encodes and decodes with protobufjs given no fs (as in dist/cli)', async () => {
  (protobuf.util as unknown as { fs: unknown }).fs = null;
  // Imported after: log.proto is read on first use, in this module's own instance.
  const { LogCodec } = await import('../../src/wire/log-codec.js');
  const codec = new LogCodec('govfs.log.ClusterOrder');
  const order = { noop: {} };
  expect(codec.decode(codec.encode(order as never))).toMatchObject(order);
});
