/**
 * Commit bookkeeping for one partition. Messages finish out of order (different
 * accounts run in parallel), but a Kafka commit means "everything before this offset is
 * done", so the committable offset is the lowest one still in flight, or one past the
 * last seen when nothing is.
 */
export class PartitionOffsets {
  /** Offsets in flight; a Set keeps insertion order, which is offset order here. */
  private readonly inFlight = new Set<bigint>();
  private lastSeen: bigint | null = null;
  private lastCommitted: bigint | null = null;
  /** Bumped when the partition is read again from an earlier offset (after a rebalance). */
  private generation = 0;

  /**
   * Starts tracking an offset and returns the token to `finish` it with. An offset not
   * past the last one seen means the partition is being read again: the tracker restarts,
   * and finishes from before the restart are ignored.
   */
  begin(offset: bigint): number {
    if (this.lastSeen !== null && offset <= this.lastSeen) {
      this.inFlight.clear();
      this.lastCommitted = null;
      this.generation += 1;
    }
    this.lastSeen = offset;
    this.inFlight.add(offset);
    return this.generation;
  }

  /**
   * Forgets the partition (it was assigned to another member): work still running for it
   * finishes with an old token and is ignored, and nothing is committed for it until it is
   * read here again.
   */
  reset(): void {
    this.inFlight.clear();
    this.lastSeen = null;
    this.lastCommitted = null;
    this.generation += 1;
  }

  finish(offset: bigint, token: number): void {
    if (token === this.generation) this.inFlight.delete(offset);
  }

  /** The next offset to commit (the next one to read), or null when there is nothing new. */
  committable(): bigint | null {
    if (this.lastSeen === null) return null;
    const first = this.inFlight.values().next();
    const next = first.done ? this.lastSeen + 1n : first.value;
    if (this.lastCommitted !== null && next <= this.lastCommitted) return null;
    return next;
  }

  committed(offset: bigint): void {
    if (this.lastCommitted === null || offset > this.lastCommitted) this.lastCommitted = offset;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }
}
