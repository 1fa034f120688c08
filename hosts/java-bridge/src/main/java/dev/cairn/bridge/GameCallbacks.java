package dev.cairn.bridge;

/**
 * What the sidecar asks of the game. Called on the executor given to {@link CairnBridge}
 * (the game's main or world thread, so the game's APIs may be used directly); the default
 * executor is the bridge's reader thread.
 */
public interface GameCallbacks {
    /**
     * Gives {@code count} of {@code item} to {@code player}. Return true when the items are in
     * the player's hands, false when that is not possible now (offline, inventory full): the
     * sidecar then tries again when the player joins or the bridge reconnects. The bridge
     * calls this at most once per prize id for which it returned true.
     */
    boolean give(String prizeId, String player, String item, int count);

    /** Sends a chat or system message to a player ("@console" for the console). */
    void tell(String player, String text);

    /** A hunt's window closed: every prize of it has been asked for. Optional. */
    default void windowClosed(String hunt, long start, long end) {}

    /** The sidecar refused this bridge's input (a bug on this side) or a connection failed. Optional. */
    default void problem(String message) {}
}
