/**
 * The worker's Redis scripts (one file each under ./lua/, bullmq style: the header of
 * each file states its KEYS, ARGV and output), read once at start-up and called by SHA.
 */
import { LuaScript, luaFile } from '../lua-script.js';

export interface WorkerScripts {
  ingestRecord: LuaScript;
  commitWindow: LuaScript;
  acquireLease: LuaScript;
  renewLease: LuaScript;
  releaseLease: LuaScript;
  checkpoint: LuaScript;
}

let loaded: WorkerScripts | undefined;

export function workerScripts(): WorkerScripts {
  loaded ??= {
    ingestRecord: new LuaScript(luaFile(import.meta.url, 'lua/ingest-record.lua')),
    commitWindow: new LuaScript(luaFile(import.meta.url, 'lua/commit-window.lua')),
    acquireLease: new LuaScript(luaFile(import.meta.url, 'lua/acquire-lease-2.lua')),
    renewLease: new LuaScript(luaFile(import.meta.url, 'lua/renew-lease-2.lua')),
    releaseLease: new LuaScript(luaFile(import.meta.url, 'lua/release-lease-2.lua')),
    checkpoint: new LuaScript(luaFile(import.meta.url, 'lua/checkpoint-2.lua')),
  };
  return loaded;
}
