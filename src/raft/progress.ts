// The leader's view of one follower's replication (after etcd's progress tracker, rewritten):
//
//   probe      — we do not know where the follower's log matches ours; send one
//                AppendEntries and wait for its answer (or the next heartbeat) before the next.
//   replicate  — the follower is keeping up; stream AppendEntries optimistically, advancing
//                `next` as we send, at most `maxInflight` unacknowledged messages at a time.
//   snapshot   — `next` was compacted away; stream InstallSnapshot chunks, then probe again.

import type { Snapshot } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to match the leader's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: a message is out, wait for its answer or a heartbeat response. */
  probeSent = false;
  /** Replicate state: last index of each unacknowledged AppendEntries, in send order. */
  inflight: number[] = [];
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Commit index last sent to this follower (to tell it promptly when commit moves). */
  sentCommit = 0;
  /** Snapshot state: the transfer in progress. */
  snap: SnapshotTransfer | undefined;
  /** Replicate state: send one empty append even with nothing new (to detect lost appends). */
  sendEmpty = false;
  /** Last index sent when the last heartbeat went out (still unacknowledged when its answer
   * arrives → those appends were probably lost). */
  sentAtHeartbeat = 0;

  constructor(next: number) {
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot.
    const afterSnap = this.state === 'snapshot' && this.snap !== undefined ? this.snap.snapshot.index + 1 : 0;
    this.state = 'probe';
    this.next = Math.max(this.match + 1, afterSnap);
    this.probeSent = false;
    this.inflight = [];
    this.snap = undefined;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight = [];
    this.snap = undefined;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.state = 'snapshot';
    this.probeSent = false;
    this.inflight = [];
    this.snap = { snapshot, acked: 0, sent: 0, doneSent: false, idleTicks: 0 };
  }

  /** A successful AppendResponse for `index`. Returns whether match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    this.probeSent = false;
    return updated;
  }

  /** Free the in-flight slots of every AppendEntries up to `index`. */
  freeInflightTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]! <= index) n++;
    if (n > 0) this.inflight.splice(0, n);
  }

  /** Probe state: a rejection of prevIndex `rejected`, with `hintNext` the index the
   * follower's hint suggests. False for a stale rejection (not the answer to our probe). */
  maybeDecrTo(rejected: number, hintNext: number): boolean {
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(rejected, hintNext));
    this.probeSent = false;
    return true;
  }

  /** Whether nothing more may be sent now. */
  isPaused(maxInflight: number): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /** Record an AppendEntries sent with entries up to `last`. */
  sent(last: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = last + 1;
        this.inflight.push(last);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}

export interface SnapshotTransfer {
  snapshot: Snapshot;
  /** Bytes the follower confirmed. */
  acked: number;
  /** Bytes sent so far (chunks past `acked` are in flight). */
  sent: number;
  /** The last chunk went out (a zero-byte snapshot is one empty last chunk). */
  doneSent: boolean;
  /** Leader ticks since the follower last confirmed progress (to resend lost chunks). */
  idleTicks: number;
}
