/** Giving a prize to a flying-squid player: where the items go in the inventory. */
import type { FsItem, FsWindow } from './flying-squid-api.js';

/**
 * Where `count` items of one type go in the player's inventory: first onto stacks of the same
 * plain item that are not full, then into empty slots, hotbar first (as vanilla picks up items).
 * Undefined when they do not all fit: a prize is given whole or held.
 */
export function planInsert(inv: FsWindow, type: number, stackSize: number, count: number): { slot: number; add: number }[] | undefined {
  const plan: { slot: number; add: number }[] = [];
  let left = count;
  const max = Math.max(1, stackSize);
  for (let i = inv.inventoryStart; i < inv.inventoryEnd && left > 0; i++) {
    const it: FsItem | null | undefined = inv.slots[i];
    if (!it || it.type !== type || it.nbt || it.count >= max) continue;
    const add = Math.min(left, max - it.count);
    plan.push({ slot: i, add });
    left -= add;
  }
  const empty: number[] = [];
  for (let i = inv.hotbarStart; i < inv.inventoryEnd; i++) if (!inv.slots[i]) empty.push(i);
  for (let i = inv.inventoryStart; i < inv.hotbarStart; i++) if (!inv.slots[i]) empty.push(i);
  for (const slot of empty) {
    if (left <= 0) break;
    const add = Math.min(left, max);
    plan.push({ slot, add });
    left -= add;
  }
  return left > 0 ? undefined : plan;
}

