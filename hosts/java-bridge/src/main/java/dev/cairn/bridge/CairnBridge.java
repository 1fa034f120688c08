package dev.cairn.bridge;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * The game server's end of the bridge to {@code cairn sidecar} (docs/sidecar-protocol.md).
 *
 * <p>Game threads call {@link #join}, {@link #leave}, {@link #move}, {@link #command} and
 * {@link #inventory}: each validates its arguments, stamps the time, and puts one small
 * object on a lock-free queue. No I/O, no lock, and nothing is thrown into the game: a bad
 * argument or a full queue is counted in {@link #stats()}. A writer thread numbers the
 * samples, writes them as NDJSON lines, keeps each until the sidecar acks it, and on
 * reconnect (with backoff) sends again what was not acked. A reader thread takes the
 * sidecar's gives and messages to the {@link GameCallbacks}, on the executor of the options.
 *
 * <p>When the queue fills up, moves go first: a move is dropped once the queue is 3/4 full,
 * a discrete sample (join, leave, command, inventory, watermark) only when it is full. A
 * dropped move costs at most a little precision (the next move of that player carries the
 * position); a dropped join or command would change who finds what.
 *
 * <p>Gives are idempotent by prize id: an id given once (in this run, or in the given log)
 * is answered "given" again without calling the game.
 */
public final class CairnBridge implements AutoCloseable {
    public static final int PROTOCOL_VERSION = 1;
    private static final System.Logger LOG = System.getLogger("dev.cairn.bridge");
    private static final int MAX_STRING = 256;
    private static final int MAX_COMMAND = 4096;
    private static final int OUT_BYTES = 256 * 1024;


    private record Answer(String prize, boolean given, boolean persist) {}

    private final BridgeOptions o;
    private final GameCallbacks callbacks;
    private final ConcurrentLinkedQueue<QueuedSample> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pending = new AtomicInteger();
    private final int moveLimit;
    private final ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
    private final Set<String> given = ConcurrentHashMap.newKeySet();
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    private final Map<String, Long> closedThrough = new ConcurrentHashMap<>();
    private final Thread writer;
    private volatile boolean writerParked;
    private volatile boolean closing;
    private volatile boolean stopped;
    private boolean reportedDown;

    // counters: game threads write the adders, the writer and reader the volatiles
    private final LongAdder enqueued = new LongAdder();
    private final LongAdder droppedMoves = new LongAdder();
    private final LongAdder droppedEvents = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final LongAdder givesApplied = new LongAdder();
    private final LongAdder givesDeduped = new LongAdder();
    private final LongAdder givesHeld = new LongAdder();
    private final LongAdder callbackErrors = new LongAdder();
    private volatile long sent, resent, reconnects;

    // connection state: the writer owns the channel and the retained lines
    private volatile SocketChannel channel;
    private volatile long welcomedAcked = -1;
    private volatile long ackedN;
    private final ArrayDeque<QueuedSample> retained = new ArrayDeque<>();
    private volatile long lastN;
    private final ByteBuffer out = ByteBuffer.allocate(OUT_BYTES);
    private final StringBuilder sb = new StringBuilder(256);

    private CairnBridge(BridgeOptions o, GameCallbacks callbacks) {
        this.o = o;
        this.callbacks = callbacks;
        this.moveLimit = Math.max(1, o.queueCapacity * 3 / 4);
        if (o.givenLog != null) loadGivenLog();
        this.writer = new Thread(this::writerLoop, "cairn-bridge-writer");
        this.writer.setDaemon(true);
    }

    /** Starts the writer (which connects in the background); never blocks on the sidecar. */
    public static CairnBridge start(BridgeOptions options, GameCallbacks callbacks) {
        if (options.serverId == null || !isId(options.serverId)) throw new IllegalArgumentException("serverId must match ^[A-Za-z0-9_.:-]{1,64}$");
        if (!isId(options.boot)) throw new IllegalArgumentException("boot must match ^[A-Za-z0-9_.:-]{1,64}$");
        CairnBridge b = new CairnBridge(options, callbacks);
        b.writer.start();
        return b;
    }

    // ---- the game thread's calls: validate, stamp, enqueue; never throw ----

    public void join(String player, Collection<String> permissions) {
        join(o.clock.getAsLong(), player, permissions);
    }

    public void join(long t, String player, Collection<String> permissions) {
        withPerms(QueuedSample.JOIN, t, player, permissions);
    }

    /** The player's permission nodes changed (a rank change, say); the session goes on. */
    public void permissions(String player, Collection<String> permissions) {
        withPerms(QueuedSample.PERMS, o.clock.getAsLong(), player, permissions);
    }

    private void withPerms(byte kind, long t, String player, Collection<String> permissions) {
        try {
            if (!isId(player) || permissions == null) {
                rejected.increment();
                return;
            }
            String[] perms = permissions.toArray(new String[0]);
            for (String p : perms) {
                if (p == null || p.isEmpty() || p.length() > MAX_STRING) {
                    rejected.increment();
                    return;
                }
            }
            offer(new QueuedSample(kind, t, player, null, 0, 0, 0, perms, 0), false);
        } catch (Throwable e) {
            rejected.increment();
        }
    }

    public void leave(String player) {
        leave(o.clock.getAsLong(), player);
    }

    public void leave(long t, String player) {
        if (!isId(player)) {
            rejected.increment();
            return;
        }
        offer(new QueuedSample(QueuedSample.LEAVE, t, player, null, 0, 0, 0, null, 0), false);
    }

    /** A position sample; region is the world or dimension name. Filter on the game side (block changes or a rate). */
    public void move(String player, String region, double x, double y, double z) {
        move(o.clock.getAsLong(), player, region, x, y, z);
    }

    public void move(long t, String player, String region, double x, double y, double z) {
        if (!isId(player) || region == null || region.isEmpty() || region.length() > MAX_STRING || !Double.isFinite(x + y + z)) {
            rejected.increment();
            return;
        }
        offer(new QueuedSample(QueuedSample.MOVE, t, player, region, x, y, z, null, 0), true);
    }

    /** A command line the player typed, without the leading slash ("hunt start spring"). */
    public void command(String player, String line) {
        command(o.clock.getAsLong(), player, line);
    }

    public void command(long t, String player, String line) {
        if (player == null || player.isEmpty() || player.length() > MAX_STRING || line == null || line.isEmpty() || line.length() > MAX_COMMAND) {
            rejected.increment();
            return;
        }
        offer(new QueuedSample(QueuedSample.COMMAND, t, player, line, 0, 0, 0, null, 0), false);
    }

    public void inventory(String player, String item, long count) {
        inventory(o.clock.getAsLong(), player, item, count);
    }

    public void inventory(long t, String player, String item, long count) {
        if (!isId(player) || item == null || item.isEmpty() || item.length() > MAX_STRING || count < 0) {
            rejected.increment();
            return;
        }
        offer(new QueuedSample(QueuedSample.INVENTORY, t, player, item, 0, 0, 0, null, count), false);
    }

    /**
     * Every sample with time <= t has been handed to this bridge. Only a sidecar run with
     * {@code --clock game} uses it (to move its clock and flush): a harness or trace player.
     */
    public void watermark(long t) {
        offer(new QueuedSample(QueuedSample.WATERMARK, t, null, null, 0, 0, 0, null, 0), false);
    }

    private void offer(QueuedSample e, boolean isMove) {
        if (pending.getAndIncrement() >= (isMove ? moveLimit : o.queueCapacity)) {
            pending.decrementAndGet();
            (isMove ? droppedMoves : droppedEvents).increment();
            return;
        }
        queue.offer(e);
        enqueued.increment();
        if (writerParked) LockSupport.unpark(writer);
    }

    // ---- state for the game ----

    public BridgeStats stats() {
        return new BridgeStats(enqueued.sum(), droppedMoves.sum(), droppedEvents.sum(), rejected.sum(), sent, ackedN, resent, reconnects,
                givesApplied.sum(), givesDeduped.sum(), givesHeld.sum(), callbackErrors.sum(), welcomedAcked >= 0 && channel != null);
    }

    /** The largest window end the sidecar reported closed for a hunt, or -1. */
    public long closedThrough(String hunt) {
        return closedThrough.getOrDefault(hunt, -1L);
    }

    /** Samples queued or sent but not yet acked by the sidecar. */
    public long unacked() {
        return pending.get() + (lastN - ackedN);
    }

    /** Sends what is queued (waiting up to timeoutMs for the sidecar's acks), then stops. */
    public void close(long timeoutMs) {
        closing = true;
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline && (pending.get() > 0 || ackedN < lastN)) {
            LockSupport.unpark(writer);
            LockSupport.parkNanos(5_000_000);
        }
        stopped = true;
        LockSupport.unpark(writer);
        try {
            writer.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeChannel(channel);
    }

    @Override
    public void close() {
        close(5_000);
    }

    // ---- the writer thread ----

    private void writerLoop() {
        int attempt = 0;
        while (!stopped) {
            SocketChannel ch = channel;
            try {
                if (ch == null) {
                    if (attempt > 0) {
                        long wait = Math.min(o.backoffCapMs, o.backoffBaseMs << Math.min(attempt - 1, 20));
                        LockSupport.parkNanos((long) (wait * (0.5 + ThreadLocalRandom.current().nextDouble() / 2)) * 1_000_000L);
                        if (stopped) break;
                    }
                    attempt++;
                    connect();
                    attempt = 0;
                    reportedDown = false;
                    continue;
                }
                if (channel == null || !ch.isOpen()) throw new IOException("connection closed");
                boolean wrote = drainAnswers(ch);
                trimRetained();
                int budget = 4096;
                while (budget-- > 0 && retained.size() < o.retainLimit) {
                    QueuedSample e = queue.poll();
                    if (e == null) break;
                    pending.decrementAndGet();
                    e.n = ++lastN;
                    retained.addLast(e);
                    encode(e);
                    putLine(ch);
                    sent++;
                    wrote = true;
                }
                if (!wrote) {
                    flushOut(ch);
                    writerParked = true;
                    if (queue.isEmpty() && answers.isEmpty()) LockSupport.parkNanos(1_000_000);
                    writerParked = false;
                }
            } catch (IOException | RuntimeException e) {
                // One report per outage, not one per reconnect attempt.
                if (!stopped && !reportedDown) problem("connection to the sidecar failed: " + e);
                reportedDown = true;
                closeChannel(ch);
                channel = null;
                out.clear();
            }
        }
        SocketChannel ch = channel;
        if (ch != null) {
            try {
                drainAnswers(ch);
                flushOut(ch);
            } catch (IOException ignored) {
                // stopping anyway
            }
        }
    }

    private void connect() throws IOException {
        SocketChannel ch = o.unixSocket != null ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
        try {
            if (o.unixSocket != null) {
                ch.connect(UnixDomainSocketAddress.of(o.unixSocket));
            } else {
                ch.connect(new InetSocketAddress(o.host, o.port));
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
        } catch (IOException e) {
            closeChannel(ch);
            throw e;
        }
        welcomedAcked = -1;
        out.clear();
        Thread reader = new Thread(() -> readerLoop(ch), "cairn-bridge-reader");
        reader.setDaemon(true);
        reader.start();
        sb.setLength(0);
        sb.append("{\"type\":\"hello\",\"v\":").append(PROTOCOL_VERSION).append(",\"server\":");
        Json.str(sb, o.serverId);
        sb.append(",\"boot\":");
        Json.str(sb, o.boot);
        sb.append(",\"t\":").append(o.clock.getAsLong()).append("}\n");
        putLine(ch);
        flushOut(ch);
        long deadline = System.currentTimeMillis() + o.welcomeTimeoutMs;
        while (welcomedAcked < 0) {
            if (stopped || !ch.isOpen() || System.currentTimeMillis() > deadline) {
                closeChannel(ch);
                throw new IOException("no welcome from the sidecar");
            }
            writerParked = true;
            LockSupport.parkNanos(1_000_000);
            writerParked = false;
        }
        if (reconnects++ > 0 || lastN > 0) LOG.log(System.Logger.Level.INFO, "cairn bridge reconnected; the sidecar has up to line {0}, resending from {1}", welcomedAcked, Math.min(lastN, welcomedAcked) + 1);
        ackedN = Math.max(ackedN, welcomedAcked);
        trimRetained();
        long expect = retained.isEmpty() ? lastN + 1 : retained.peekFirst().n;
        if (welcomedAcked + 1 != expect) {
            // The sidecar lost lines it had acked (its data folder was replaced): numbering on
            // would be wrong, so this bridge starts a new boot and sends what it still has.
            String old = o.boot;
            o.boot = UUID.randomUUID().toString();
            long n = 0;
            for (QueuedSample e : retained) e.n = ++n;
            lastN = n;
            ackedN = 0;
            problem("the sidecar has lines up to " + welcomedAcked + " of boot " + old + " but this bridge sent up to " + (expect - 1) + "; starting boot " + o.boot);
            closeChannel(ch);
            throw new IOException("restarting with a new boot");
        }
        for (QueuedSample e : retained) {
            encode(e);
            putLine(ch);
            resent++;
        }
        flushOut(ch);
        channel = ch;
    }

    private void trimRetained() {
        long a = ackedN;
        while (!retained.isEmpty() && retained.peekFirst().n <= a) retained.pollFirst();
    }

    private boolean drainAnswers(SocketChannel ch) throws IOException {
        boolean any = false;
        Answer a;
        while ((a = answers.poll()) != null) {
            if (a.persist && o.givenLog != null) appendGivenLog(a.prize);
            sb.setLength(0);
            sb.append("{\"type\":\"").append(a.given ? "given" : "held").append("\",\"prize\":");
            Json.str(sb, a.prize);
            sb.append("}\n");
            putLine(ch);
            any = true;
        }
        return any;
    }

    private void encode(QueuedSample e) {
        sb.setLength(0);
        e.appendLine(sb, o.serverId);
    }

    /** Copies sb (one line) into the output buffer, writing the buffer out when it is full. */
    private void putLine(SocketChannel ch) throws IOException {
        StringBuilder b = sb;
        int n = b.length();
        if (out.remaining() < n * 3) flushOut(ch);
        int start = out.position();
        for (int i = 0; i < n; i++) {
            char c = b.charAt(i);
            if (c >= 0x80) {
                out.position(start);
                out.put(b.toString().getBytes(StandardCharsets.UTF_8));
                return;
            }
            out.put((byte) c);
        }
    }

    private void flushOut(SocketChannel ch) throws IOException {
        if (out.position() == 0) return;
        out.flip();
        while (out.hasRemaining()) ch.write(out);
        out.clear();
    }

    // ---- the reader thread (one per connection) ----

    private void readerLoop(SocketChannel ch) {
        ByteBuffer in = ByteBuffer.allocate(64 * 1024);
        byte[] line = new byte[1024];
        int len = 0;
        try {
            while (ch.read(in) >= 0) {
                in.flip();
                while (in.hasRemaining()) {
                    byte c = in.get();
                    if (c == '\n') {
                        if (len > 0) onLine(new String(line, 0, len, StandardCharsets.UTF_8));
                        len = 0;
                    } else {
                        if (len == line.length) line = java.util.Arrays.copyOf(line, len * 2);
                        line[len++] = c;
                    }
                }
                in.clear();
            }
        } catch (IOException e) {
            // the writer notices the closed channel and reconnects
        } finally {
            closeChannel(ch);
            LockSupport.unpark(writer);
        }
    }

    private void onLine(String text) {
        Map<String, Object> m;
        try {
            m = Json.object(text);
        } catch (IllegalArgumentException e) {
            problem("the sidecar sent a line that is not JSON: " + text);
            return;
        }
        Object type = m.get("type");
        if ("ack".equals(type)) {
            long n = asLong(m.get("n"));
            if (n > ackedN) ackedN = n;
        } else if ("give".equals(type)) {
            onGive((String) m.get("prize"), (String) m.get("player"), (String) m.get("item"), (int) asLong(m.get("count")));
        } else if ("tell".equals(type)) {
            String player = (String) m.get("player");
            String text2 = (String) m.get("text");
            run(() -> callbacks.tell(player, text2));
        } else if ("window-closed".equals(type)) {
            onClosed((String) m.get("hunt"), asLong(m.get("start")), asLong(m.get("end")));
        } else if ("welcome".equals(type)) {
            Object closed = m.get("closed");
            if (closed instanceof Map<?, ?> cm) {
                for (Map.Entry<?, ?> en : cm.entrySet()) {
                    if (en.getValue() instanceof Map<?, ?> w) onClosed((String) en.getKey(), asLong(w.get("start")), asLong(w.get("end")));
                }
            }
            welcomedAcked = asLong(m.get("acked"));
            LockSupport.unpark(writer);
        } else if ("error".equals(type)) {
            problem("the sidecar refused this bridge's input: " + m.get("code") + " " + m.get("message"));
        } else if (!"bye".equals(type)) {
            problem("the sidecar sent an unknown line type: " + type);
        }
    }

    private void onClosed(String hunt, long start, long end) {
        Long prev = closedThrough.get(hunt);
        if (prev != null && prev >= end) return;
        closedThrough.merge(hunt, end, Math::max);
        run(() -> callbacks.windowClosed(hunt, start, end));
    }

    private void onGive(String prize, String player, String item, int count) {
        if (prize == null || player == null || item == null) {
            problem("the sidecar sent a give without prize, player or item");
            return;
        }
        if (given.contains(prize)) {
            givesDeduped.increment();
            answer(prize, true, false);
            return;
        }
        if (!inFlight.add(prize)) return;
        run(() -> {
            boolean ok = false;
            try {
                ok = callbacks.give(prize, player, item, count);
            } catch (Throwable t) {
                callbackErrors.increment();
                LOG.log(System.Logger.Level.ERROR, "cairn bridge: the game's give callback threw; the prize is held", t);
            }
            if (ok) {
                given.add(prize);
                givesApplied.increment();
            } else {
                givesHeld.increment();
            }
            inFlight.remove(prize);
            answer(prize, ok, ok);
        });
    }

    private void answer(String prize, boolean given, boolean persist) {
        answers.offer(new Answer(prize, given, persist));
        LockSupport.unpark(writer);
    }

    private void run(Runnable r) {
        try {
            o.callbackExecutor.execute(() -> {
                try {
                    r.run();
                } catch (Throwable t) {
                    callbackErrors.increment();
                    LOG.log(System.Logger.Level.ERROR, "cairn bridge: a game callback threw", t);
                }
            });
        } catch (Throwable t) {
            callbackErrors.increment();
            LOG.log(System.Logger.Level.ERROR, "cairn bridge: the callback executor refused a task", t);
        }
    }

    // ---- helpers ----

    private void loadGivenLog() {
        try {
            if (Files.exists(o.givenLog)) {
                List<String> ids = Files.readAllLines(o.givenLog, StandardCharsets.UTF_8);
                for (String id : ids) if (!id.isEmpty()) given.add(id);
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "cairn bridge: cannot read the given log " + o.givenLog, e);
        }
    }

    private void appendGivenLog(String prize) {
        try {
            Files.writeString(o.givenLog, prize + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "cairn bridge: cannot append to the given log " + o.givenLog, e);
        }
    }

    private void problem(String message) {
        LOG.log(System.Logger.Level.WARNING, "cairn bridge: " + message);
        try {
            callbacks.problem(message);
        } catch (Throwable ignored) {
            // a callback that throws must not stop the bridge
        }
    }

    private static void closeChannel(SocketChannel ch) {
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private static long asLong(Object v) {
        return v instanceof Number num ? num.longValue() : -1;
    }

    /** The id pattern of the wire, ^[A-Za-z0-9_.:-]{1,64}$, without a regex (this runs on the game thread). */
    static boolean isId(String s) {
        if (s == null) return false;
        int n = s.length();
        if (n == 0 || n > 64) return false;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-')) return false;
        }
        return true;
    }
}
