import { PartitionOffsets } from './partition-offsets';

describe('PartitionOffsets', () => {
  it('has nothing to commit before any message', () => {
    expect(new PartitionOffsets().committable()).toBeNull();
  });

  it('commits up to the lowest offset still in flight', () => {
    const offsets = new PartitionOffsets();
    const tokens = [10n, 11n, 12n].map((offset) => offsets.begin(offset));
    offsets.finish(11n, tokens[1]);
    offsets.finish(12n, tokens[2]);
    expect(offsets.committable()).toBe(10n);
    offsets.finish(10n, tokens[0]);
    expect(offsets.committable()).toBe(13n);
  });

  it('offers an offset only once it moved past the last commit', () => {
    const offsets = new PartitionOffsets();
    offsets.finish(5n, offsets.begin(5n));
    expect(offsets.committable()).toBe(6n);
    offsets.committed(6n);
    expect(offsets.committable()).toBeNull();
    offsets.begin(6n);
    expect(offsets.committable()).toBeNull();
  });

  it('commits nothing for a partition handed to another member, and ignores its old work', () => {
    const offsets = new PartitionOffsets();
    const before = offsets.begin(30n);
    offsets.reset();
    expect(offsets.committable()).toBeNull();
    // Assigned back later, further on (another member committed meanwhile).
    const after = offsets.begin(90n);
    offsets.finish(30n, before);
    expect(offsets.committable()).toBe(90n);
    offsets.finish(90n, after);
    expect(offsets.committable()).toBe(91n);
  });

  it('keeps earlier unfinished offsets when an offset is read again', () => {
    const offsets = new PartitionOffsets();
    const token = offsets.begin(20n);
    offsets.begin(21n);
    offsets.begin(22n);
    offsets.finish(22n, token);
    // 21 is read again (a redelivery) while its first run and 20 are still going.
    offsets.begin(21n);
    offsets.finish(21n, token);
    expect(offsets.committable()).toBe(20n);
    offsets.finish(20n, token);
    // One run of 21 is still going: nothing past it may be committed.
    expect(offsets.committable()).toBe(21n);
    offsets.finish(21n, token);
    expect(offsets.committable()).toBe(23n);
  });

  it('ignores work of an earlier generation after a reset', () => {
    const offsets = new PartitionOffsets();
    const before = offsets.begin(20n);
    offsets.begin(21n);
    offsets.committed(20n);
    offsets.reset();
    expect(offsets.isCurrent(before)).toBe(false);
    const after = offsets.begin(20n);
    offsets.finish(20n, before);
    expect(offsets.committable()).toBe(20n);
    offsets.finish(20n, after);
    expect(offsets.committable()).toBe(21n);
  });
});
