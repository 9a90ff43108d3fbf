import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'events' })
export class EventEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  /** Ids are unique per account: two accounts may use the same one. */
  @PrimaryColumn({ name: 'account_id', type: 'text' })
  accountId!: string;

  @Column({ type: 'text' })
  type!: string;

  /** The exact JSON posted to webhooks, kept byte for byte so retries send the same body. */
  @Column({ type: 'text' })
  body!: string;

  /** The event's own `timestamp`. */
  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  @Column({ name: 'received_at', type: 'timestamptz' })
  receivedAt!: Date;

  @Column({ name: 'kafka_partition', type: 'int', nullable: true })
  kafkaPartition!: number | null;

  @Column({ name: 'kafka_offset', type: 'bigint', nullable: true })
  kafkaOffset!: string | null;
}
