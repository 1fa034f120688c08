package dev.cairn.harness;

import dev.cairn.bridge.BridgeOptions;
import dev.cairn.bridge.BridgeStats;
import dev.cairn.bridge.CairnBridge;
import dev.cairn.bridge.GameCallbacks;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The bridge's cost on the game server, run by bench/bridge.bench.ts against a live
 * `cairn sidecar` on loopback:
 *
 * <ul>
 *   <li>game thread: nanoseconds per {@code move()} call, in bursts of one tick's moves with
 *       the writer thread sending meanwhile (what a game's tick pays);
 *   <li>throughput: samples per second from the first call until the sidecar acked the last
 *       one (journaled and fed to the plugin).
 * </ul>
 *
 * <pre>java -cp cairn-bridge.jar:cairn-harness.jar dev.cairn.harness.Bench HOST:PORT SAMPLES PLAYERS</pre>
 * Prints one JSON line.
 */
public final class Bench {
    public static void main(String[] args) throws Exception {
        String addr = args[0];
        int samples = Integer.parseInt(args[1]);
        int players = Integer.parseInt(args[2]);
        int colon = addr.lastIndexOf(':');
        BridgeOptions opts = new BridgeOptions("bench-srv").tcp(addr.substring(0, colon), Integer.parseInt(addr.substring(colon + 1)))
                .queueCapacity(1 << 20).retainLimit(1 << 20);
        CairnBridge bridge = CairnBridge.start(opts, new GameCallbacks() {
            @Override
            public boolean give(String prizeId, String player, String item, int count) {
                return true;
            }

            @Override
            public void tell(String player, String text) {}
        });
        while (!bridge.stats().connected()) LockSupport.parkNanos(1_000_000);
        String[] names = new String[players];
        for (int i = 0; i < players; i++) {
            names[i] = "player-" + i;
            bridge.join(names[i], List.of("cairn.play"));
        }
        double[] x = new double[players];
        double[] z = new double[players];
        long seed = 42;
        for (int i = 0; i < players; i++) {
            seed = seed * 6364136223846793005L + 1442695040888963407L;
            x[i] = (seed >>> 40) % 1000 - 500;
            z[i] = (seed >>> 20) % 1000 - 500;
        }
        waitAcked(bridge);

        // Warm-up (JIT), not counted.
        run(bridge, names, x, z, Math.min(samples, 200_000), players, null);
        waitAcked(bridge);

        List<Long> burstNs = new ArrayList<>();
        long t0 = System.nanoTime();
        long callNs = run(bridge, names, x, z, samples, players, burstNs);
        waitAcked(bridge);
        long totalNs = System.nanoTime() - t0;
        BridgeStats st = bridge.stats();
        burstNs.sort(null);
        double perCall = (double) callNs / samples;
        double p99Burst = burstNs.isEmpty() ? 0 : burstNs.get(Math.min(burstNs.size() - 1, (int) (burstNs.size() * 0.99))) / (double) players;
        System.out.println("{\"samples\":" + samples + ",\"players\":" + players + ",\"callNs\":" + String.format("%.1f", perCall)
                + ",\"callNsP99Tick\":" + String.format("%.1f", p99Burst) + ",\"perSec\":" + Math.round(samples * 1e9 / totalNs)
                + ",\"droppedMoves\":" + st.droppedMoves() + ",\"droppedEvents\":" + st.droppedEvents() + "}");
        bridge.close(5_000);
        System.exit(0);
    }

    /** Moves in ticks of `players` calls (each player moves once a tick); returns the time spent in the calls. */
    private static long run(CairnBridge bridge, String[] names, double[] x, double[] z, int samples, int players, List<Long> bursts) {
        long inCalls = 0;
        int done = 0;
        while (done < samples) {
            int n = Math.min(players, samples - done);
            long a = System.nanoTime();
            for (int i = 0; i < n; i++) {
                x[i] += 0.25;
                bridge.move(names[i], "r1", x[i], 64, z[i]);
            }
            long d = System.nanoTime() - a;
            inCalls += d;
            if (bursts != null && n == players) bursts.add(d);
            done += n;
            // A tick's worth of game work between bursts would go here; the writer sends meanwhile.
            while (bridge.unacked() > Math.max(4L * players, 65_536)) LockSupport.parkNanos(50_000);
        }
        return inCalls;
    }

    private static void waitAcked(CairnBridge bridge) {
        while (bridge.unacked() > 0) LockSupport.parkNanos(200_000);
    }

    private Bench() {}
}
