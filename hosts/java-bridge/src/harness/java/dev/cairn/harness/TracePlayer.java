package dev.cairn.harness;

import dev.cairn.bridge.BridgeOptions;
import dev.cairn.bridge.BridgeStats;
import dev.cairn.bridge.CairnBridge;
import dev.cairn.bridge.GameCallbacks;
import dev.cairn.bridge.Json;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * Plays a Cairn trace (DESIGN.md "Replay: the trace format") through one bridge per server
 * into one `cairn sidecar --clock game` per server, on the trace's time, the way
 * `cairn replay` drives plugins: samples up to a window's end plus the grace, a watermark,
 * then a wait until every sidecar reported the window closed; and a watermark at every
 * flush interval crossed. Gives are granted through the GameCallbacks when the player is
 * online in the trace, and printed, so the caller can check that each prize came once.
 *
 * <pre>
 * java -cp cairn-bridge.jar:cairn-harness.jar dev.cairn.harness.TracePlayer \
 *   --trace FILE --sidecar srv-a=127.0.0.1:PORT --sidecar srv-b=... --hunt ID=WINDOW_MS \
 *   [--grace MS] [--flush MS] [--window-timeout MS]
 * </pre>
 * stdout: "LINES n" every 2000 lines, "WINDOW hunt end" per closed window, "GIVE {json}"
 * per give callback, "DONE {json}" at the end (exit 0), or "FAILED why" (exit 1).
 */
public final class TracePlayer {
    private record Server(String id, CairnBridge bridge, Set<String> online) {}

    private static final Object OUT = new Object();

    static void say(String line) {
        synchronized (OUT) {
            System.out.println(line);
            System.out.flush();
        }
    }

    public static void main(String[] args) throws Exception {
        String trace = null;
        Map<String, String> sidecars = new LinkedHashMap<>();
        Map<String, Long> hunts = new LinkedHashMap<>();
        long grace = 0;
        long flushMs = 250;
        long windowTimeout = 120_000;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--trace" -> trace = v;
                case "--sidecar" -> sidecars.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1));
                case "--hunt" -> hunts.put(v.substring(0, v.indexOf('=')), Long.parseLong(v.substring(v.indexOf('=') + 1)));
                case "--grace" -> grace = Long.parseLong(v);
                case "--flush" -> flushMs = Long.parseLong(v);
                case "--window-timeout" -> windowTimeout = Long.parseLong(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (trace == null || sidecars.isEmpty() || hunts.isEmpty()) throw new IllegalArgumentException("need --trace, --sidecar and --hunt");

        // The bridges stamp the hello with the trace's time, not the wall clock.
        long traceStart;
        try (BufferedReader r = Files.newBufferedReader(Path.of(trace), StandardCharsets.UTF_8)) {
            traceStart = ((Number) Json.object(r.readLine()).get("t")).longValue();
        }
        Map<String, Server> servers = new LinkedHashMap<>();
        Map<String, Integer> giveCalls = new ConcurrentHashMap<>();
        for (Map.Entry<String, String> e : sidecars.entrySet()) {
            String id = e.getKey();
            String addr = e.getValue();
            Set<String> online = ConcurrentHashMap.newKeySet();
            GameCallbacks cb = new GameCallbacks() {
                @Override
                public boolean give(String prizeId, String player, String item, int count) {
                    boolean ok = online.contains(player);
                    int calls = giveCalls.merge(prizeId + "@" + id, 1, Integer::sum);
                    StringBuilder sb = new StringBuilder("GIVE {\"prize\":");
                    Json.str(sb, prizeId);
                    sb.append(",\"server\":");
                    Json.str(sb, id);
                    sb.append(",\"player\":");
                    Json.str(sb, player);
                    sb.append(",\"item\":");
                    Json.str(sb, item);
                    sb.append(",\"count\":").append(count).append(",\"given\":").append(ok).append(",\"call\":").append(calls).append('}');
                    say(sb.toString());
                    return ok;
                }

                @Override
                public void tell(String player, String text) {}

                @Override
                public void windowClosed(String hunt, long start, long end) {
                    say("WINDOW " + id + " " + hunt + " " + end);
                }
            };
            int colon = addr.lastIndexOf(':');
            BridgeOptions opts = new BridgeOptions(id).clock(() -> traceStart).boot("harness-" + id).backoff(50, 500).queueCapacity(1 << 20).retainLimit(1 << 20);
            if (addr.contains("/")) opts.unixSocket(Path.of(addr));
            else opts.tcp(addr.substring(0, colon), Integer.parseInt(addr.substring(colon + 1)));
            servers.put(id, new Server(id, CairnBridge.start(opts, cb), online));
        }

        List<Server> all = new ArrayList<>(servers.values());
        long lines = 0;
        long firstT = -1;
        long barrier = 0;
        long nextFlush = 0;
        long lastT = 0;
        try (BufferedReader r = Files.newBufferedReader(Path.of(trace), StandardCharsets.UTF_8)) {
            String text;
            while ((text = r.readLine()) != null) {
                if (text.isEmpty()) continue;
                Map<String, Object> line = Json.object(text);
                long t = ((Number) line.get("t")).longValue();
                if (firstT < 0) {
                    firstT = t;
                    barrier = nextEnd(hunts, t);
                    nextFlush = t + flushMs;
                }
                while (t > barrier + grace) {
                    closeBarrier(all, hunts, barrier, grace, windowTimeout);
                    barrier = nextEnd(hunts, barrier);
                }
                if (t > nextFlush) {
                    for (Server s : all) s.bridge().watermark(nextFlush);
                    nextFlush = (t / flushMs + 1) * flushMs;
                }
                Server s = servers.get((String) line.get("server"));
                if (s == null) throw new IllegalStateException("trace line for a server with no --sidecar: " + text);
                feed(s, line, t);
                lastT = t;
                if (++lines % 2000 == 0) say("LINES " + lines);
            }
        }
        long lastEnd = 0;
        for (long len : hunts.values()) lastEnd = Math.max(lastEnd, (lastT / len + 1) * len);
        while (barrier <= lastEnd) {
            closeBarrier(all, hunts, barrier, grace, windowTimeout);
            barrier = nextEnd(hunts, barrier);
        }
        // Every line acked: every give the sidecars sent before those acks has been handled.
        long deadline = System.currentTimeMillis() + windowTimeout;
        for (Server s : all) {
            while (s.bridge().unacked() > 0) {
                if (System.currentTimeMillis() > deadline) fail("sidecar of " + s.id() + " did not ack everything");
                LockSupport.parkNanos(2_000_000);
            }
        }
        StringBuilder sb = new StringBuilder("DONE {\"lines\":").append(lines);
        for (Server s : all) {
            BridgeStats st = s.bridge().stats();
            sb.append(",\"").append(s.id()).append("\":{\"sent\":").append(st.sent()).append(",\"resent\":").append(st.resent())
                    .append(",\"reconnects\":").append(st.reconnects()).append(",\"droppedMoves\":").append(st.droppedMoves())
                    .append(",\"droppedEvents\":").append(st.droppedEvents()).append(",\"rejected\":").append(st.rejected())
                    .append(",\"givesApplied\":").append(st.givesApplied()).append(",\"givesDeduped\":").append(st.givesDeduped())
                    .append(",\"givesHeld\":").append(st.givesHeld()).append('}');
        }
        say(sb.append('}').toString());
        for (Server s : all) s.bridge().close(5_000);
        System.exit(0);
    }

    private static void feed(Server s, Map<String, Object> line, long t) {
        String player = (String) line.get("player");
        CairnBridge b = s.bridge();
        switch ((String) line.get("type")) {
            case "join" -> {
                @SuppressWarnings("unchecked")
                List<String> perms = (List<String>) line.getOrDefault("perms", List.of());
                s.online().add(player);
                b.join(t, player, perms);
            }
            case "leave" -> {
                s.online().remove(player);
                b.leave(t, player);
            }
            case "move" -> {
                List<?> at = (List<?>) line.get("at");
                b.move(t, player, (String) line.get("region"), ((Number) at.get(0)).doubleValue(), ((Number) at.get(1)).doubleValue(), ((Number) at.get(2)).doubleValue());
            }
            case "command" -> b.command(t, player, (String) line.get("line"));
            case "inventory" -> b.inventory(t, player, (String) line.get("item"), ((Number) line.get("count")).longValue());
            default -> throw new IllegalStateException("unknown trace line type " + line.get("type"));
        }
    }

    private static long nextEnd(Map<String, Long> hunts, long t) {
        long best = Long.MAX_VALUE;
        for (long len : hunts.values()) best = Math.min(best, (t / len + 1) * len);
        return best;
    }

    private static void closeBarrier(List<Server> all, Map<String, Long> hunts, long end, long grace, long timeoutMs) {
        for (Server s : all) s.bridge().watermark(end + grace);
        long deadline = System.currentTimeMillis() + timeoutMs;
        for (Map.Entry<String, Long> h : hunts.entrySet()) {
            if (end % h.getValue() != 0) continue;
            for (Server s : all) {
                while (s.bridge().closedThrough(h.getKey()) < end) {
                    if (System.currentTimeMillis() > deadline) fail("window " + h.getKey() + " ending " + end + " did not close on " + s.id() + " within " + timeoutMs + " ms");
                    LockSupport.parkNanos(1_000_000);
                }
            }
        }
    }

    private static void fail(String why) {
        say("FAILED " + why);
        System.exit(1);
    }

    private TracePlayer() {}
}
