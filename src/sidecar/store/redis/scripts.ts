/**
 * Server-side scripts. Each touches only keys passed in KEYS and sharing one hash tag, so
 * they run unchanged on Redis Cluster. Redis runs a script atomically.
 */

/**
 * A batch of appends, several series per call (one pipeline command instead of one per series:
 * a script call costs ~10 µs of Redis time however little it does, the work inside ~1 µs per
 * series). Each op is one series' samples in one raw chunk.
 *
 * KEYS, 3 per op: raw chunk, rollup chunk, latest (one series' keys share its hash tag).
 * ARGV[1] meta, 6 float64 per op: rows, partials, has-latest (0/1), raw expire-at (ms),
 *         rollup expire-at (ms, 0 = already set), retry (0/1).
 * ARGV[2] rows of all ops (17 B each: t f64, v f64, q u8, little-endian).
 * ARGV[3] rollup partials of all ops (80 B each: slot index f64 + the 9 slot fields).
 * ARGV[4] latest rows of the ops that have one (17 B each).
 * ARGV[5] slots per rollup chunk (S).
 *
 * A rollup chunk holds two regions, so that a reader fetches only what its reducer needs:
 * A = S × [count, sum, m2] (24 B) for count/sum/mean/std, then B = S × [count, min, max,
 * first, firstTime, last, lastTime] (56 B) for min/max/first/last.
 *
 * A new raw chunk (APPEND returns just this length) gets its expiry; the client tells when a
 * rollup chunk needs one. Replays are harmless: a retried op whose exact rows are already in
 * its chunk was applied before its reply was lost (maybe followed by later writes), so it is
 * skipped whole and its rollups are not counted twice. The search costs a chunk read, paid
 * only on retries. Returns the number of ops skipped as replays.
 *
 * The rollup merge mirrors `mergeSlot` in rollup.ts: Chan's parallel m2; on a tie, first keeps
 * what arrived earlier and last takes what arrived later.
 */
export const APPEND_LUA = `
local meta, rows, parts, lats, nslots = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local rp, pp, lp = 1, 1, 1
local skipped = 0
for i = 0, #meta / 48 - 1 do
  local nrows, nparts, haslat, rawexp, rollexp, retry = struct.unpack('<dddddd', meta, i * 48 + 1)
  local kraw, kroll, klat = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local len = nrows * 17
  local r = string.sub(rows, rp, rp + len - 1)
  rp = rp + len
  local apply = true
  if retry == 1 and len > 0 then
    local chunk = redis.call('GET', kraw)
    if chunk and string.find(chunk, r, 1, true) then
      apply = false
      skipped = skipped + 1
    end
  end
  if apply then
    if len > 0 and redis.call('APPEND', kraw, r) == len then
      redis.call('PEXPIREAT', kraw, rawexp)
    end
    for o = pp, pp + (nparts - 1) * 80, 80 do
      local slot = struct.unpack('<d', parts, o)
      local offa = slot * 24
      local offb = nslots * 24 + slot * 56
      local n2, s2, m2b, mn2, mx2, f2, ft2, l2, lt2 = struct.unpack('<ddddddddd', parts, o + 8)
      local a = redis.call('GETRANGE', kroll, offa, offa + 23)
      if #a == 24 then
        local n1, s1, m2a = struct.unpack('<ddd', a)
        if n1 > 0 then
          local _, mn1, mx1, f1, ft1, l1, lt1 = struct.unpack('<ddddddd', redis.call('GETRANGE', kroll, offb, offb + 55))
          local n = n1 + n2
          local d = s2 / n2 - s1 / n1
          m2b = m2a + m2b + d * d * n1 * n2 / n
          s2 = s1 + s2
          n2 = n
          if mn1 < mn2 then mn2 = mn1 end
          if mx1 > mx2 then mx2 = mx1 end
          if ft1 <= ft2 then f2 = f1; ft2 = ft1 end
          if lt1 > lt2 then l2 = l1; lt2 = lt1 end
        end
      end
      redis.call('SETRANGE', kroll, offa, struct.pack('<ddd', n2, s2, m2b))
      redis.call('SETRANGE', kroll, offb, struct.pack('<ddddddd', n2, mn2, mx2, f2, ft2, l2, lt2))
    end
    if nparts > 0 and rollexp > 0 then
      redis.call('PEXPIREAT', kroll, rollexp)
    end
    if haslat == 1 then
      -- Optimistic: set, and put the old value back in the rare case it was newer (one call, not two).
      local row = string.sub(lats, lp, lp + 16)
      local old = redis.call('SET', klat, row, 'GET')
      if old and struct.unpack('<d', old) > struct.unpack('<d', row) then
        redis.call('SET', klat, old)
      end
    end
  end
  pp = pp + nparts * 80
  if haslat == 1 then lp = lp + 17 end
end
return skipped
`;

/**
 * Atomic model write. KEYS: revision, then one kind hash per op.
 * ARGV: expected revision ('' = any), channel, message ('' = don't publish), then op, id, json per op.
 * Returns {ok, revision, deleted}.
 */
export const MODEL_WRITE_LUA = `
local rev = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= rev then
  return {0, rev, 0}
end
local deleted = 0
for i = 2, #KEYS do
  local a = 4 + (i - 2) * 3
  if ARGV[a] == 'put' then
    redis.call('HSET', KEYS[i], ARGV[a + 1], ARGV[a + 2])
  else
    deleted = deleted + redis.call('HDEL', KEYS[i], ARGV[a + 1])
  end
end
rev = redis.call('INCR', KEYS[1])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return {1, rev, deleted}
`;

/** Compare-and-renew: KEYS: lease. ARGV: owner, ttl ms. */
export const LEASE_RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** Compare-and-delete: KEYS: lease. ARGV: owner. */
export const LEASE_RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
