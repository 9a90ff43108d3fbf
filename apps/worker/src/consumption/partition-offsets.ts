/**
 * Commit bookkeeping for one partition. Messages finish out of order (different accounts run
 * in parallel), but a Kafka commit means "everything before this offset is done", so the
 * committable offset is the lowest one still in flight, or one past the last seen when
 * nothing is.
 *
 * Each assignment of the partition is a generation: `begin` hands out its token, and work
 * that finishes with the token of an earlier generation (the partition was revoked, or the
 * group rebalanced and it is read again from the last commit) counts for nothing.
 */
export class PartitionOffsets {
  /**
   * Offsets in flight, with how many times each: within one generation an offset can be
   * begun again (read again) before its first run ends, and neither run may be forgotten
   * while the other is still going.
   */
  private readonly inFlight = new Map<bigint, number>();
  private lastSeen: bigint | null = null;
  private lastCommitted: bigint | null = null;
  private generation = 0;

  /** Starts tracking an offset; returns the token to `finish` it with. */
  begin(offset: bigint): number {
    this.inFlight.set(offset, (this.inFlight.get(offset) ?? 0) + 1);
    if (this.lastSeen === null || offset > this.lastSeen) this.lastSeen = offset;
    return this.generation;
  }

  finish(offset: bigint, token: number): void {
    if (token !== this.generation) return;
    const count = this.inFlight.get(offset);
    if (count === undefined) return;
    if (count > 1) this.inFlight.set(offset, count - 1);
    else this.inFlight.delete(offset);
  }

  /**
   * Forgets the partition: a rebalance assigned it elsewhere, or it will be read again from
   * its last commit. Work still running for it finishes with an old token and is ignored.
   */
  reset(): void {
    this.inFlight.clear();
    this.lastSeen = null;
    this.lastCommitted = null;
    this.generation += 1;
  }

  /** True while `token` belongs to the current generation: its work is still ours to do. */
  isCurrent(token: number): boolean {
    return token === this.generation;
  }

  /** The next offset to commit (the next one to read), or null when there is nothing new. */
  committable(): bigint | null {
    if (this.lastSeen === null) return null;
    let next = this.lastSeen + 1n;
    for (const offset of this.inFlight.keys()) if (offset < next) next = offset;
    if (this.lastCommitted !== null && next <= this.lastCommitted) return null;
    return next;
  }

  committed(offset: bigint): void {
    if (this.lastCommitted === null || offset > this.lastCommitted) this.lastCommitted = offset;
  }

  get inFlightCount(): number {
    let count = 0;
    for (const times of this.inFlight.values()) count += times;
    return count;
  }
}
