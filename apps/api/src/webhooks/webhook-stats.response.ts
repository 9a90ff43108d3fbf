import { ApiProperty } from '@nestjs/swagger';

export class WebhookStatsResponse {
  webhook_id!: string;
  /** Start of the window: 24 hours ago. */
  since!: string;
  /** Deliveries created in the window, by status. */
  @ApiProperty({
    example: { pending: 0, delivering: 1, succeeded: 120, retrying: 2, failed: 1, discarded: 0 },
  })
  deliveries!: Record<string, number>;
  /** Attempts made in the window. */
  attempts!: number;
  /** Share of those attempts that got a 2xx, from 0 to 1; null without attempts. */
  success_rate!: number | null;
  last_success_at!: string | null;
  last_failure_at!: string | null;
}
