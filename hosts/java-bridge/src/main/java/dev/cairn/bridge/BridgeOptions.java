package dev.cairn.bridge;

import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;

/** How a {@link CairnBridge} connects and how much it may hold. Setters return this. */
public final class BridgeOptions {
    String host = "127.0.0.1";
    int port = 7171;
    Path unixSocket;
    String serverId;
    String boot = UUID.randomUUID().toString();
    int queueCapacity = 1 << 16;
    int retainLimit = 1 << 16;
    long backoffBaseMs = 100;
    long backoffCapMs = 5_000;
    long welcomeTimeoutMs = 10_000;
    Executor callbackExecutor = Runnable::run;
    Path givenLog;
    LongSupplier clock = System::currentTimeMillis;

    public BridgeOptions(String serverId) {
        this.serverId = serverId;
    }

    /** The sidecar's TCP address. @default 127.0.0.1:7171 */
    public BridgeOptions tcp(String host, int port) {
        this.host = host;
        this.port = port;
        this.unixSocket = null;
        return this;
    }

    /** The sidecar's Unix socket (used instead of TCP). */
    public BridgeOptions unixSocket(Path path) {
        this.unixSocket = path;
        return this;
    }

    /** Identifies this run of the game process; a new one ends every session. @default a random UUID */
    public BridgeOptions boot(String boot) {
        this.boot = boot;
        return this;
    }

    /**
     * Samples waiting for the writer thread. Moves are dropped (and counted) once it is 3/4
     * full; joins, leaves, commands and inventory changes only when it is full. @default 65536
     */
    public BridgeOptions queueCapacity(int n) {
        this.queueCapacity = n;
        return this;
    }

    /** Lines sent but not yet acked by the sidecar, kept to send again after a reconnect. @default 65536 */
    public BridgeOptions retainLimit(int n) {
        this.retainLimit = n;
        return this;
    }

    /** Reconnect backoff: base doubling up to cap, with jitter. @default 100 ms, 5000 ms */
    public BridgeOptions backoff(long baseMs, long capMs) {
        this.backoffBaseMs = baseMs;
        this.backoffCapMs = capMs;
        return this;
    }

    /**
     * Where give, tell and windowClosed run: the game's main or world thread (Paper:
     * {@code r -> Bukkit.getScheduler().runTask(plugin, r)}; Hytale: the world's executor).
     * @default the bridge's reader thread
     */
    public BridgeOptions callbackExecutor(Executor e) {
        this.callbackExecutor = e;
        return this;
    }

    /**
     * A file of prize ids already given, so a give sent again after a game restart is not
     * given twice. @default none (the ids given in this run are kept in memory only)
     */
    public BridgeOptions givenLog(Path file) {
        this.givenLog = file;
        return this;
    }

    /** The time samples are stamped with when the call has no explicit time. @default System::currentTimeMillis */
    public BridgeOptions clock(LongSupplier clock) {
        this.clock = clock;
        return this;
    }
}
