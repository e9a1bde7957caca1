"""The Lua scripts behind RedisWallet (billing/wallet/redis.py); each runs atomically in Redis.

Keys, all under one hash tag so a script's keys share a slot:
  {fb}:acct:<account id>   hash: bal (committed balance, nano-USD), seq (its balance_seq),
                           held (the sum of the account's holds, kept with them in every script)
  {fb}:holds:<account id>  hash: <hold id> -> what that hold holds (a hold id is a request id)
  {fb}:owner:<owner>       hash: <hold id> -> <account id>, the holds one process took
  {fb}:owners              zset: owner -> heartbeat deadline (Redis clock, ms)
  {fb}:gone:<hold id>      a released hold's fence (expires): a late or repeated RESERVE of
                           that id is refused, so it cannot take a hold nobody will release

Every script is idempotent by hold id: RESERVE sets a hold to a total (running it twice holds
once), RELEASE deletes the hold (running it twice releases once).
"""

from __future__ import annotations

PREFIX = "{fb}:"
OWNERS = PREFIX + "owners"
FENCE_MS = 600_000  # how long a released hold id refuses late RESERVEs; the heartbeat's
# reconciliation by id catches anything later still


def account_key(account_id: int) -> str:
    return f"{PREFIX}acct:{account_id}"


def holds_key(account_id: int) -> str:
    return f"{PREFIX}holds:{account_id}"


def owner_key(owner: str) -> str:
    return f"{PREFIX}owner:{owner}"


def fence_key(hold_id: str) -> str:
    return f"{PREFIX}gone:{hold_id}"


_NOW_MS = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Deletes one hold (if still there) and gives its amount back to the account's `held`.
_DROP = """
local function drop(akey, hkey, id)
  local amount = tonumber(redis.call('HGET', hkey, id) or '0')
  if amount > 0 then
    redis.call('HDEL', hkey, id)
    if redis.call('HINCRBY', akey, 'held', -amount) < 0 then redis.call('HSET', akey, 'held', 0) end
  end
  return amount
end
"""

# KEYS: account, holds, owner hash, owners, fence. ARGV: account id, hold id, total, owner, ttl ms.
# Raises the hold to `total` (a no-op when it already holds that much).
# Returns {1 held | 0 refused | -1 balance not loaded | -2 already released, balance, held}.
RESERVE = _NOW_MS + """
if redis.call('EXISTS', KEYS[5]) == 1 then return {-2, 0, 0} end
local bal = redis.call('HGET', KEYS[1], 'bal')
if not bal then return {-1, 0, 0} end
bal = tonumber(bal)
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local need = tonumber(ARGV[3]) - tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if need <= 0 then return {1, bal, held} end
if bal - held < need then return {0, bal, held} end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'held', need)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[5]), ARGV[4])
return {1, bal, held + need}
"""

# KEYS: account, holds, owner hash, fence. ARGV: hold id, fence ms (0: none).
# Releases the hold (nothing, when already released or reclaimed); with a fence, a late RESERVE
# of the id is refused. Returns {released, balance, held}.
RELEASE = _DROP + """
local released = drop(KEYS[1], KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[4], 1, 'PX', ARGV[2]) end
local v = redis.call('HMGET', KEYS[1], 'bal', 'held')
return {released, tonumber(v[1] or '0'), tonumber(v[2] or '0')}
"""

# KEYS: owner hash. ARGV: prefix, fence ms, then (hold id, account id) pairs: releases each,
# fenced (what the heartbeat gives back: its process no longer has these in flight).
FORGET = _DROP + """
for i = 3, #ARGV, 2 do
  drop(ARGV[1] .. 'acct:' .. ARGV[i + 1], ARGV[1] .. 'holds:' .. ARGV[i + 1], ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('SET', ARGV[1] .. 'gone:' .. ARGV[i], 1, 'PX', ARGV[2])
end
return 0
"""

# KEYS: accounts. ARGV: balance, seq for each. The highest seq wins, so commits from several
# processes and refreshes from the database may arrive in any order.
SYNC = """
for i, key in ipairs(KEYS) do
  local seq = tonumber(ARGV[2 * i])
  if seq > tonumber(redis.call('HGET', key, 'seq') or '-1') then
    redis.call('HSET', key, 'bal', ARGV[2 * i - 1], 'seq', ARGV[2 * i])
  end
end
return 0
"""

# KEYS: account. Returns {balance or -1 when not loaded, held}: one atomic read of both.
READ = """
local v = redis.call('HMGET', KEYS[1], 'bal', 'held')
return {tonumber(v[1] or '-1'), tonumber(v[2] or '0')}
"""

# KEYS: owners. ARGV: owner, ttl ms.
HEARTBEAT = _NOW_MS + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
"""

# KEYS: owners. ARGV: prefix, max owners, [an owner to reap now, alive or not].
# Returns the reaped owners' accounts (to refresh). Dead = heartbeat deadline passed.
REAP = _NOW_MS + _DROP + """
local dead
if ARGV[3] then dead = {ARGV[3]}
else dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2])) end
local touched = {}
for _, owner in ipairs(dead) do
  local okey = ARGV[1] .. 'owner:' .. owner
  local holds = redis.call('HGETALL', okey)
  for i = 1, #holds, 2 do
    drop(ARGV[1] .. 'acct:' .. holds[i + 1], ARGV[1] .. 'holds:' .. holds[i + 1], holds[i])
    table.insert(touched, holds[i + 1])
  end
  redis.call('DEL', okey)
  redis.call('ZREM', KEYS[1], owner)
end
return touched
"""
