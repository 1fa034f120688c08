/**
 * A standalone plugin process for the SIGTERM test: starts a plugin with stopOnSignals
 * against the gateway URL in argv[2], data folder argv[3], feeds a few joins, prints
 * "ready", and waits for a signal.
 */
import { CairnPlugin } from '../../../plugin/cairn-plugin.js';
import { FakeHost } from './fake-host.js';
import { testHunts } from './hunts.js';

const [url, dataDir] = process.argv.slice(2) as [string, string];
const host = new FakeHost();
const plugin = await CairnPlugin.start({ host, hunts: testHunts(), dataDir, gatewayUrl: url, token: 't', autoFlush: false, stopOnSignals: { timeoutMs: 300 } });
for (let k = 0; k < 5; k++) plugin.accept({ type: 'join', t: host.clock + k, player: `p${k}` });
host.clock += 10;
process.stdout.write('ready\n');
// Keep the process alive until the signal.
setInterval(() => undefined, 1000);
