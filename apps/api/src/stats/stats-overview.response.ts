export class MinuteCountsResponse {
  /** Start of the minute. */
  minute!: string;
  /** Deliveries created in this minute. */
  created!: number;
  /** Of those, the ones that have succeeded by now. */
  succeeded!: number;
  /** Of those, the ones that have failed for good by now. */
  failed!: number;
}

export class PartitionLagResponse {
  partition!: number;
  /** Messages of this partition that the workers' group has not committed yet. */
  lag!: number;
}

export class ConsumerLagResponse {
  /** The workers' consumer group. */
  group!: string;
  topic!: string;
  /** The sum over partitions. */
  total!: number;
  partitions!: PartitionLagResponse[];
}

export class StatsOverviewResponse {
  /** The account the figures are about; null for every account (admin key only). */
  account_id!: string | null;
  /** Start of the window: the minute an hour ago. */
  since!: string;
  /** One entry per minute of the last hour, oldest first, minutes without deliveries included. */
  deliveries_per_minute!: MinuteCountsResponse[];
  /**
   * How far the workers are behind the topic. Admin key only: null for an account key (the
   * topic is shared by every account), and null when the brokers did not answer in time.
   */
  consumer_lag!: ConsumerLagResponse | null;
}
