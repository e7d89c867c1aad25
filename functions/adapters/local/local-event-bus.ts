// EventBridge on a laptop: each event is one line of a JSON Lines file, in the same
// envelope EventBridge delivers (source, detail-type, detail).
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DependencySetEventType, EventBus } from '../ports.ts';

export class LocalEventBus implements EventBus {
  constructor(readonly path: string) {}

  async putEvent(
    detailType: DependencySetEventType,
    detail: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    // One write per line with O_APPEND: concurrent runs never interleave inside a line.
    await appendFile(
      this.path,
      `${JSON.stringify({ source: 'lambda-deps', 'detail-type': detailType, time: new Date().toISOString(), detail })}\n`,
    );
  }
}
