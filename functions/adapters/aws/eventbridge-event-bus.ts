// EventBridge in AWS: one event per finished set, source `lambda-deps`, so other pipelines
// can deploy when a set is ready or page someone when it failed.
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { DependencySetEventType, EventBus } from '../ports.ts';

export const EVENT_SOURCE = 'lambda-deps';

export class EventBridgeEventBus implements EventBus {
  constructor(
    private readonly eventBusName: string,
    private readonly client: EventBridgeClient = new EventBridgeClient({}),
  ) {}

  async putEvent(
    detailType: DependencySetEventType,
    detail: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    const response = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.eventBusName,
            Source: EVENT_SOURCE,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    // PutEvents reports per-entry failures in a 200 response; a lost event must not pass silently.
    if ((response.FailedEntryCount ?? 0) > 0) {
      const entry = response.Entries?.[0];
      throw new Error(
        `EventBridge refused the "${detailType}" event: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }
  }
}
