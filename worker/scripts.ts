/**
 * The worker's Redis scripts (one file each under ./lua/, bullmq style: the header of
 * each file states its KEYS, ARGV and output), read once at start-up and called by SHA.
 */
import type { Redis } from 'ioredis';
import { LuaScript, luaFile } from '../backend/redis/lua-script.js';

export interface WorkerScripts {
  ingestRecord: LuaScript;
  commitWindow: LuaScript;
  acquireLease: LuaScript;
  stealLease: LuaScript;
  renewLease: LuaScript;
  releaseLease: LuaScript;
  checkpoint: LuaScript;
}

let loaded: WorkerScripts | undefined;

export function workerScripts(): WorkerScripts {
  const file = (name: string) => new LuaScript(luaFile(import.meta.url, `lua/${name}`));
  loaded ??= {
    ingestRecord: file('ingest-record.lua'),
    commitWindow: file('commit-window.lua'),
    acquireLease: file('acquire-lease-2.lua'),
    stealLease: file('steal-lease-2.lua'),
    renewLease: file('renew-lease-2.lua'),
    releaseLease: file('release-lease-2.lua'),
    checkpoint: file('checkpoint-2.lua'),
  };
  return loaded;
}
