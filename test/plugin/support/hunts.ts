import type { HuntRules } from '../../../protocol/index.js';

/** Two small hunts for plugin tests. */
export function testHunts(): HuntRules[] {
  return [
    {
      id: 'spring',
      name: 'Spring Hunt',
      window: '60s',
      treasures: [
        { id: 'oak', region: 'r1', at: [10, 64, -20], radius: 3, clue: 'Beneath the old oak', prizes: [{ ranks: '1', item: 'gold_ingot', count: 5 }] },
        { id: 'well', region: 'r2', at: [0, 70, 0], radius: 2, prizes: [{ ranks: '1-3', item: 'silver_coin', count: 2 }] },
      ],
      maxSpeed: 20,
    },
    {
      id: 'autumn',
      name: 'Autumn Hunt',
      treasures: [{ id: 'leaf', region: 'r1', at: [100, 64, 100], radius: 1, prizes: [{ ranks: '1', item: 'crown', count: 1 }] }],
    },
  ];
}
