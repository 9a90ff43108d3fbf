import { DeadlineExceededError, withDeadline } from './deadline';

const after = <T>(ms: number, settle: () => T): Promise<T> =>
  new Promise((resolve) => setTimeout(() => resolve(settle()), ms));

describe('withDeadline', () => {
  it('resolves with the work when it finishes in time', async () => {
    await expect(
      withDeadline(
        after(5, () => 'acked'),
        1000,
        'send',
      ),
    ).resolves.toBe('acked');
  });

  it('rejects with the work’s own error when it fails in time', async () => {
    const failing = Promise.reject(new Error('broker refused'));
    await expect(withDeadline(failing, 1000, 'send')).rejects.toThrow('broker refused');
  });

  it('rejects with DeadlineExceededError, naming the work, when the work is slower', async () => {
    const started = Date.now();
    const slow = new Promise<never>(() => undefined);
    const outcome = withDeadline(slow, 50, 'Publishing to Kafka');
    await expect(outcome).rejects.toBeInstanceOf(DeadlineExceededError);
    await expect(outcome).rejects.toThrow('Publishing to Kafka did not finish within 50 ms');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('swallows a rejection of work that was given up on', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const late = after(30, () => undefined).then(() => {
        throw new Error('late failure');
      });
      await expect(withDeadline(late, 5, 'send')).rejects.toBeInstanceOf(DeadlineExceededError);
      await after(60, () => undefined);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
