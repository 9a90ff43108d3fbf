import { Column, Entity, OneToMany, PrimaryColumn } from 'typeorm';
import { DeliveryAttemptEntity } from './delivery-attempt.entity';
import type { DeliveryStatus } from './delivery-status';

/** One event for one webhook: unique on that pair, so a re-read Kafka message adds nothing. */
@Entity({ name: 'deliveries' })
export class DeliveryEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  /** Insertion order; the keyset for newest-first pagination. */
  @Column({ type: 'bigint', insert: false, update: false })
  seq!: string;

  @Column({ name: 'event_id', type: 'text' })
  eventId!: string;

  @Column({ name: 'webhook_id', type: 'uuid' })
  webhookId!: string;

  @Column({ name: 'account_id', type: 'text' })
  accountId!: string;

  @Column({ name: 'event_type', type: 'text' })
  eventType!: string;

  @Column({ type: 'text' })
  status!: DeliveryStatus;

  @Column({ name: 'attempt_count', type: 'int' })
  attemptCount!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt!: Date | null;

  /** While `delivering`: when another worker may take the delivery over (its owner died). */
  @Column({ name: 'lease_expires_at', type: 'timestamptz', nullable: true })
  leaseExpiresAt!: Date | null;

  /** Set by a manual retry or a replay: the worker makes one extra attempt soon. */
  @Column({ name: 'manual_attempt_requested_at', type: 'timestamptz', nullable: true })
  manualAttemptRequestedAt!: Date | null;

  @Column({ name: 'last_response_status', type: 'int', nullable: true })
  lastResponseStatus!: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @OneToMany(() => DeliveryAttemptEntity, (attempt) => attempt.delivery)
  attempts?: DeliveryAttemptEntity[];
}
