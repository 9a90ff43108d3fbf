import { ApiProperty } from '@nestjs/swagger';
import { DeliveryResponse } from '../deliveries/delivery.response';

export class EventResponse {
  id!: string;
  type!: string;
  account_id!: string;
  campaign_id?: string;
  data!: Record<string, unknown>;
  timestamp!: string;
  /** When the worker stored the event. */
  received_at!: string;
  @ApiProperty({ type: [DeliveryResponse] })
  deliveries!: DeliveryResponse[];
}
