// `npm run sim -- raft --seeds N`: randomized fault schedules for a Raft group on the runtime's
// Simulation (RaftShell + KV state machine per host, SimStorage, the encoded wire). Each seed
// draws the group size (3 or 5), the mode (elected, or appointed with a test authority),
// the network (reliable or lossy), the disk (fsyncs fast; or now and then slow, with a heavy
// tail, or failing, which crashes the node until it restarts), the snapshot threshold and a
// schedule of crashes, restarts, partitions and heals while clients propose concurrently. Safety invariants are
// checked after every simulation step (test/raft/cluster.ts); at the end the faults stop and
// the group must make progress, converge, and hold every acknowledged proposal.

import { UNRELIABLE_NETWORK, type SimFsyncOptions } from '../../src/runtime/sim.js';
import { RaftCluster } from '../raft/cluster.js';

export const describe = 'Raft group on the simulated runtime: crashes, restarts, partitions, lossy network, concurrent clients; invariants every step';

export interface RaftSimOptions {
  verbose: boolean;
  /** Fault schedule length in virtual ms (default 1,500). */
  faultMs?: number;
}

/** Steps a run may take: the longest of 200 seeds took 48,035; a livelock (a leader and a
 * follower re-sending entries for ever while time creeps on) fails here with its seed. */
export const MAX_RAFT_STEPS = 500_000;

/** A seed's disk: a quarter of the seeds have fast fsyncs only; the others some slow (up to
 * 5%, a tail of a few ms to a second) and some failing (up to 1%: the node crashes, and
 * restarts within half a second). */
export function drawFsync(r: { next(): number }): Partial<SimFsyncOptions> {
  if (r.next() < 0.25) return {};
  return { slowRate: r.next() * 0.05, slowMs: 1 + r.next() * 19, failRate: r.next() * 0.01 };
}

export async function runSeed(seed: number, opts: RaftSimOptions = { verbose: false }): Promise<{ ok: boolean; error?: string; detail?: string }> {
  let c: RaftCluster | undefined;
  try {
    // Draw the shape of this run from the seed (the simulation's own random stream).
    const shape = new RaftCluster({ seed, n: 1 }).sim.random;
    const n = shape.next() < 0.6 ? 3 : 5;
    const mode = shape.next() < 0.25 ? 'appointed' : 'elected';
    const lossy = shape.next() < 0.6;
    const snapshotEntries = shape.int(5, 60);
    const snapshotChunkSize = shape.int(0, 1) ? 64 : 4096;
    const fsync = drawFsync(shape);
    const replay = `npm run sim -- raft --seed ${seed} --verbose`;
    c = new RaftCluster({ seed, n, mode, network: lossy ? UNRELIABLE_NETWORK : {}, snapshotEntries, snapshotChunkSize, sim: { fsync, maxSteps: MAX_RAFT_STEPS, replay } });
    const cl = c;
    cl.verbose = opts.verbose;
    const rnd = cl.sim.random;
    let stop = false;
    const sleep = (ms: number): Promise<void> => cl.sleep(ms);

    // Appointed mode: a test authority that appoints, when a majority it can reach has no
    // leader and no live leader can reach it, the most up-to-date member of that majority.
    const authority = async (): Promise<void> => {
      while (!stop) {
        await sleep(50);
        if (cl.stableLeader()) continue;
        const live = cl.liveHandles().map((h) => h.id);
        if (live.length === 0) continue;
        const r = live[rnd.int(0, live.length - 1)]!;
        const component = live.filter((x) => x === r || cl.sim.connected(r, x));
        if (component.length <= n / 2) continue;
        const leaders = cl.liveHandles().filter((h) => h.shell.softState().role === 'leader');
        if (leaders.some((l) => component.some((x) => x !== l.id && cl.sim.connected(l.id, x)) && !component.includes(l.id))) continue;
        if (leaders.some((l) => component.includes(l.id))) continue;
        await cl.appointAsync(cl.mostUpToDate(component), cl.ids, component);
      }
    };
    const background: Promise<unknown>[] = [];
    if (mode === 'appointed') background.push(authority());
    const clients = rnd.int(1, 4);
    const where: string[] = [];
    for (let k = 0; k < clients; k++) {
      background.push(
        (async () => {
          let i = 0;
          while (!stop) {
            const l = cl.leader();
            if (!l) {
              where[k] = `sleep ${cl.sim.now()}`;
              await sleep(10);
              continue;
            }
            where[k] = `propose ${l.id} ${cl.sim.now()}`;
            await cl.propose(l.id, `c${k}=${i++}`, 300);
          }
        })(),
      );
    }
    const faultMs = opts.faultMs ?? 1_500;
    const end = cl.sim.now() + faultMs;
    while (cl.sim.now() < end) {
      const id = cl.ids[rnd.int(0, n - 1)]!;
      const what = rnd.int(0, 9);
      if (what <= 2) {
        if (cl.liveHandles().length > 1) cl.crash(id);
      } else if (what <= 4) cl.restart(id);
      else if (what <= 6) {
        const shuffled = [...cl.ids].sort(() => rnd.next() - 0.5);
        const cut = rnd.int(1, n - 1);
        cl.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      } else if (what === 7) cl.isolate(id);
      else cl.heal();
      await cl.runFor(rnd.int(20, 300));
    }
    // Faults stop: everything comes back and the group must make progress and converge.
    cl.sim.fsync.failRate = 0;
    cl.heal();
    for (const id of cl.ids) cl.restart(id);
    await cl.runFor(10);
    if (mode === 'elected') await cl.waitLeader(5_000);
    else await cl.runUntil(() => cl.stableLeader() !== undefined, 5_000);
    const after = await cl.proposeAndWait(3, 10_000, 'final');
    stop = true;
    await cl.sim.settle(Promise.all(background), 5_000).catch((e: Error) => {
      throw new Error(`${e.message}; clients at ${where.join(', ')}`);
    });
    await cl.converge(20_000);
    cl.checkAcked();
    return {
      ok: true,
      detail: `${n} nodes ${mode}${lossy ? ' lossy' : ''}${fsync.slowRate ? `, ${cl.sim.fsyncsSlow} slow and ${cl.sim.fsyncsFailed} failed fsyncs` : ''}, ${cl.acked.length} acked, commit ${cl.stableLeader()?.shell.commitIndex ?? '?'}, ${cl.sim.steps} steps, final ${after.length} (trace ${cl.sim.traceHash})`,
    };
  } catch (e) {
    const err = e as Error;
    const tail = c && opts.verbose ? `\n${c.log.slice(-30).join('\n')}\n${c.describeNodes()}` : '';
    // The trace hash, so that a replay can be checked to be the run that failed.
    const trace = c && !err.message.includes('trace ') ? ` (trace ${c.sim.traceHash})` : '';
    return { ok: false, error: `${err.message}${trace}${opts.verbose ? `\n${err.stack ?? ''}` : ''}${tail}` };
  }
}
