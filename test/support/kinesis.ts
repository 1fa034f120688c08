/** A real kinesalite for a test file, with a client on it (HTTP/1.1, as backend/kinesis/client.ts sets up). */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { makeKinesisClient, startKinesalite } from '../../backend/kinesis/client.js';

export interface Kinesis {
  client: KinesisClient;
  endpoint: string;
  stop(): Promise<void>;
}

export async function startKinesis(): Promise<Kinesis> {
  const k = await startKinesalite();
  const client = makeKinesisClient(k.endpoint, 'us-east-1');
  return {
    client,
    endpoint: k.endpoint,
    async stop() {
      client.destroy();
      await k.stop();
    },
  };
}
