"""The Lua scripts behind RedisWallet (billing/redis_wallet.py); each runs atomically in Redis.

Keys, all under one hash tag so a script's keys share a slot:
  {fb}:acct:<account id>   hash: bal (committed balance, nano-USD), seq (its balance_seq), held
  {fb}:owner:<owner>       hash: <account id> -> what that process holds on the account
  {fb}:owners              zset: owner -> heartbeat deadline (Redis clock, ms)
"""

from __future__ import annotations

PREFIX = "{fb}:"
OWNERS = PREFIX + "owners"


def account_key(account_id: int) -> str:
    return f"{PREFIX}acct:{account_id}"


def owner_key(owner: str) -> str:
    return f"{PREFIX}owner:{owner}"


_NOW_MS = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: account, owner hash, owners. ARGV: account id, amount, owner, ttl ms.
# Returns {1 held | 0 refused | -1 balance not loaded, balance, held}.
RESERVE = _NOW_MS + """
local bal = redis.call('HGET', KEYS[1], 'bal')
if not bal then return {-1, 0, 0} end
bal = tonumber(bal)
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local amount = tonumber(ARGV[2])
if bal - held < amount then return {0, bal, held} end
redis.call('HINCRBY', KEYS[1], 'held', amount)
redis.call('HINCRBY', KEYS[2], ARGV[1], amount)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
return {1, bal, held + amount}
"""

# KEYS: account, owner hash. ARGV: account id, amount. Releases at most what this owner still
# holds there (nothing, when a reaper already reclaimed it). Returns {balance, held}.
RELEASE = """
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local amount = math.min(mine, tonumber(ARGV[2]))
if amount > 0 then
  if mine - amount <= 0 then redis.call('HDEL', KEYS[2], ARGV[1])
  else redis.call('HINCRBY', KEYS[2], ARGV[1], -amount) end
  if redis.call('HINCRBY', KEYS[1], 'held', -amount) < 0 then redis.call('HSET', KEYS[1], 'held', 0) end
end
return {tonumber(redis.call('HGET', KEYS[1], 'bal') or '0'), tonumber(redis.call('HGET', KEYS[1], 'held') or '0')}
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

# KEYS: owners. ARGV: owner, ttl ms.
HEARTBEAT = _NOW_MS + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
"""

# KEYS: owners. ARGV: prefix, max owners, [an owner to reap now, alive or not].
# Returns the reaped owners' accounts (to refresh). Dead = heartbeat deadline passed.
REAP = _NOW_MS + """
local dead
if ARGV[3] then dead = {ARGV[3]}
else dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2])) end
local touched = {}
for _, owner in ipairs(dead) do
  local hkey = ARGV[1] .. 'owner:' .. owner
  local holds = redis.call('HGETALL', hkey)
  for i = 1, #holds, 2 do
    local akey = ARGV[1] .. 'acct:' .. holds[i]
    if redis.call('HINCRBY', akey, 'held', -tonumber(holds[i + 1])) < 0 then redis.call('HSET', akey, 'held', 0) end
    table.insert(touched, holds[i])
  end
  redis.call('DEL', hkey)
  redis.call('ZREM', KEYS[1], owner)
end
return touched
"""
