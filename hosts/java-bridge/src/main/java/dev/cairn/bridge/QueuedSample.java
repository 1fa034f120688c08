package dev.cairn.bridge;

/** One sample on its way from a game thread to the sidecar, and how it is written as a line. */
final class QueuedSample {
    static final byte JOIN = 1, LEAVE = 2, MOVE = 3, COMMAND = 4, INVENTORY = 5, WATERMARK = 6, PERMS = 7;

    final byte kind;
    final long t;
    final String player;
    final String s;
    final double x, y, z;
    final String[] perms;
    final long count;
    long n;

    QueuedSample(byte kind, long t, String player, String s, double x, double y, double z, String[] perms, long count) {
        this.kind = kind;
        this.t = t;
        this.player = player;
        this.s = s;
        this.x = x;
        this.y = y;
        this.z = z;
        this.perms = perms;
        this.count = count;
    }

    /** Appends this sample as one protocol line, with its \n. */
    void appendLine(StringBuilder b, String serverId) {
        QueuedSample e = this;
        if (e.kind == MOVE) {
            // A move is written as a trace line, without "n" (it is the line after the last):
            // the sidecar reads that exact shape on a fast path without decoding it.
            b.append("{\"t\":").append(e.t).append(",\"server\":");
            Json.str(b, serverId);
            b.append(",\"type\":\"move\",\"player\":");
            Json.str(b, e.player);
            b.append(",\"region\":");
            Json.str(b, e.s);
            b.append(",\"at\":[");
            Json.num(b, e.x);
            b.append(',');
            Json.num(b, e.y);
            b.append(',');
            Json.num(b, e.z);
            b.append("]}\n");
            return;
        }
        b.append("{\"n\":").append(e.n).append(",\"t\":").append(e.t).append(",\"type\":\"");
        switch (e.kind) {
            case JOIN, PERMS -> {
                b.append(e.kind == JOIN ? "join" : "perms").append("\",\"player\":");
                Json.str(b, e.player);
                b.append(",\"perms\":[");
                for (int i = 0; i < e.perms.length; i++) {
                    if (i > 0) b.append(',');
                    Json.str(b, e.perms[i]);
                }
                b.append("]}\n");
            }
            case LEAVE -> {
                b.append("leave\",\"player\":");
                Json.str(b, e.player);
                b.append("}\n");
            }
            case COMMAND -> {
                b.append("command\",\"player\":");
                Json.str(b, e.player);
                b.append(",\"line\":");
                Json.str(b, e.s);
                b.append("}\n");
            }
            case INVENTORY -> {
                b.append("inventory\",\"player\":");
                Json.str(b, e.player);
                b.append(",\"item\":");
                Json.str(b, e.s);
                b.append(",\"count\":").append(e.count).append("}\n");
            }
            default -> b.append("watermark\"}\n");
        }
    }
}
