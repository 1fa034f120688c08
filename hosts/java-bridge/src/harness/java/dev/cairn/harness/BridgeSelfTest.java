package dev.cairn.harness;

import dev.cairn.bridge.BridgeOptions;
import dev.cairn.bridge.BridgeStats;
import dev.cairn.bridge.CairnBridge;
import dev.cairn.bridge.GameCallbacks;
import dev.cairn.bridge.Json;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The bridge's own rules, against a fake sidecar written here (a ServerSocket): the queue
 * drops moves first, bad arguments are counted and never thrown, a give is applied once
 * per prize id however often it comes, and after a reconnect the bridge sends again
 * exactly the lines after the sidecar's `acked`. Run by npm run test:jvm; prints "OK".
 */
public final class BridgeSelfTest {
    private static int failures;

    private static void check(boolean ok, String what) {
        if (!ok) {
            failures++;
            System.out.println("FAILED " + what);
        }
    }

    public static void main(String[] args) throws Exception {
        dropPolicyAndRejects();
        givesAndResend();
        if (failures > 0) System.exit(1);
        System.out.println("OK");
        System.exit(0);
    }

    static final GameCallbacks NOTHING = new GameCallbacks() {
        @Override
        public boolean give(String prizeId, String player, String item, int count) {
            return true;
        }

        @Override
        public void tell(String player, String text) {}
    };

    private static void dropPolicyAndRejects() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        // Nothing listens on the port: the writer never connects, so the queue only fills.
        CairnBridge b = CairnBridge.start(new BridgeOptions("srv-x").tcp("127.0.0.1", port).queueCapacity(8).backoff(50, 100), NOTHING);
        for (int i = 0; i < 8; i++) b.move("p1", "r1", i, 64, 0);
        for (int i = 0; i < 3; i++) b.join("p" + i, List.of());
        BridgeStats st = b.stats();
        check(st.droppedMoves() == 2, "moves past 3/4 of the queue are dropped: " + st);
        check(st.droppedEvents() == 1, "discrete samples are dropped only when the queue is full: " + st);
        b.move(null, "r1", 0, 0, 0);
        b.move("p1", "r1", Double.NaN, 0, 0);
        b.join("not an id", List.of());
        b.command("p1", "");
        b.join("p1", null);
        check(b.stats().rejected() == 5, "bad arguments are counted, not thrown: " + b.stats());
        b.close(0);
    }

    private static void givesAndResend() throws Exception {
        Map<String, Integer> calls = new ConcurrentHashMap<>();
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CairnBridge b = CairnBridge.start(new BridgeOptions("srv-y").tcp("127.0.0.1", server.getLocalPort()).boot("boot-1").backoff(20, 50), new GameCallbacks() {
                @Override
                public boolean give(String prizeId, String player, String item, int count) {
                    calls.merge(prizeId, 1, Integer::sum);
                    return !prizeId.equals("h|held");
                }

                @Override
                public void tell(String player, String text) {}
            });
            // First connection: hello, welcome, three samples, gives (one twice), then the socket dies unacked.
            try (Socket s = server.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                OutputStream out = s.getOutputStream();
                Map<String, Object> hello = Json.object(in.readLine());
                check("hello".equals(hello.get("type")) && "srv-y".equals(hello.get("server")) && "boot-1".equals(hello.get("boot")), "hello: " + hello);
                write(out, "{\"type\":\"welcome\",\"v\":1,\"acked\":0,\"closed\":{}}");
                b.join("p1", List.of("cairn.play"));
                b.move("p1", "r1", 1.5, 64, -2);
                b.command("p1", "hunt status x");
                List<Map<String, Object>> lines = read(in, 3);
                check(num(lines.get(0), "n") == 1 && "join".equals(lines.get(0).get("type")), "line 1 is the join: " + lines.get(0));
                check("move".equals(lines.get(1).get("type")) && !lines.get(1).containsKey("n") && "srv-y".equals(lines.get(1).get("server")), "line 2 is the move, as a trace line: " + lines.get(1));
                write(out, "{\"type\":\"ack\",\"n\":1}");
                write(out, "{\"type\":\"give\",\"prize\":\"h|a\",\"player\":\"p1\",\"item\":\"gold\",\"count\":5}");
                write(out, "{\"type\":\"give\",\"prize\":\"h|a\",\"player\":\"p1\",\"item\":\"gold\",\"count\":5}");
                write(out, "{\"type\":\"give\",\"prize\":\"h|held\",\"player\":\"p1\",\"item\":\"gold\",\"count\":1}");
                List<Map<String, Object>> answers = read(in, 3);
                List<String> seen = new ArrayList<>();
                for (Map<String, Object> a : answers) seen.add(a.get("type") + " " + a.get("prize"));
                check(seen.contains("given h|a") && seen.contains("held h|held") && seen.size() == 3, "answers: " + seen);
            }
            // Second connection (same boot): the sidecar has line 1; the bridge sends 2 and 3 again.
            try (Socket s = server.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                OutputStream out = s.getOutputStream();
                check("boot-1".equals(Json.object(in.readLine()).get("boot")), "the boot survives a reconnect");
                write(out, "{\"type\":\"welcome\",\"v\":1,\"acked\":1,\"closed\":{\"h\":{\"start\":0,\"end\":60000}}}");
                List<Map<String, Object>> lines = read(in, 2);
                check("move".equals(lines.get(0).get("type")) && num(lines.get(1), "n") == 3, "resends exactly the unacked lines: " + lines);
                write(out, "{\"type\":\"ack\",\"n\":3}");
                write(out, "{\"type\":\"give\",\"prize\":\"h|a\",\"player\":\"p1\",\"item\":\"gold\",\"count\":5}");
                Map<String, Object> again = read(in, 1).get(0);
                check("given".equals(again.get("type")) && "h|a".equals(again.get("prize")), "a prize given before is answered given again: " + again);
                check(b.closedThrough("h") == 60000, "welcome's closed windows are taken");
            }
            check(calls.get("h|a") == 1, "the give callback ran once for h|a, not " + calls.get("h|a"));
            BridgeStats st = b.stats();
            check(st.givesApplied() == 1 && st.givesDeduped() == 2 && st.givesHeld() == 1 && st.resent() == 2, "gives and resends counted: " + st);
            b.close(0);
        }
    }

    private static void write(OutputStream out, String line) throws Exception {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static List<Map<String, Object>> read(BufferedReader in, int n) throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        while (out.size() < n) {
            String l = in.readLine();
            if (l == null) throw new IllegalStateException("connection closed after " + out);
            out.add(Json.object(l));
        }
        return out;
    }

    private static long num(Map<String, Object> m, String k) {
        return ((Number) m.get(k)).longValue();
    }

    private BridgeSelfTest() {}
}
