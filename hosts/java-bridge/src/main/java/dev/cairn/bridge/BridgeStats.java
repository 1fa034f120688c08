package dev.cairn.bridge;

/** Counters of a {@link CairnBridge}, read at one moment. */
public record BridgeStats(
        long enqueued,
        long droppedMoves,
        long droppedEvents,
        long rejected,
        long sent,
        long acked,
        long resent,
        long reconnects,
        long givesApplied,
        long givesDeduped,
        long givesHeld,
        long callbackErrors,
        boolean connected) {}
