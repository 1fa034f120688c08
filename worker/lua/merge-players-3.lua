--[[
  The third step of a window commit, one chunk at a time: writes player buckets that
  merge a committed window's merge list (commit-window.lua) into the players hash, and
  deletes the list and its marker with the last chunk. Runs in the hunt's hash slot
  (worker/window-merge.ts computes the buckets).

  It writes only while the list it was computed from is still there, checked here, in
  the same slot: a worker that was paused and wakes up after another one merged the list
  (and a next window was committed, with a list of its own) writes nothing. Writing a
  chunk twice, or a bucket computed from a read made before an earlier write of the same
  list, gives the same bucket: only the list's players change in it, and no commit can
  change any bucket while the list exists (commit-window.lua refuses). So a crash
  anywhere in between leaves nothing the next merge of the same list cannot redo.

  Input (the hunt's hash tag):
    KEYS[1] merge      HASH {end: end of the window whose merge list waits, at}
    KEYS[2] mergeList  STRING that merge list
    KEYS[3] players    HASH bucket -> JSON finds of the bucket's players

    ARGV[1] end of the window whose list the buckets were computed from
    ARGV[2] '1' for the last chunk: delete the list after writing; '0' otherwise
    ARGV[3] N, then N x (bucket, JSON)

  Output: 1 written; 0 the list is gone or is another window's (nothing written)
]]
if redis.call('HGET', KEYS[1], 'end') ~= ARGV[1] then return 0 end

-- unpack() is bounded by the Lua C stack (LUAI_MAXCSTACK 8000): write in chunks.
local CHUNK = 500
local n = tonumber(ARGV[3])
local i = 0
while i < n do
  local j = math.min(i + CHUNK, n)
  redis.call('HSET', KEYS[3], unpack(ARGV, 4 + 2 * i, 3 + 2 * j))
  i = j
end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1], KEYS[2]) end
return 1
