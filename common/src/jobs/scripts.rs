//! One typed wrapper per Lua script. Each wrapper is a struct whose fields
//! are the script's keys and arguments by name; the order of `KEYS` and
//! `ARGV` exists only in the wrapper's declaration, which also gives the
//! script its Lua names for them.
//!
//! Every script runs with this prelude before its own text:
//!
//! - `K.<key>` and `A.<arg>`: its keys and arguments by the wrapper's field
//!   names; `REST`: the trailing list, for the scripts that take one;
//! - `F.<field>`, `U.<field>`, `E.<field>`: the field names of the job
//!   record, the user hash and the stream entry, from [`super::record`];
//! - `S.<state>`: the [`JobStatus`] names;
//! - `I.<field>`, `IK.<part>`, `IS.<state>`: the import record's fields,
//!   the parts its lists' keys add to its key, and the [`ImportStatus`]
//!   names, from [`crate::imports`];
//! - `W.<field>`, `WK.<part>`, `ET.<type>`: a webhook delivery's fields,
//!   the keys of the delivery set, and the event types (`.` written `_`),
//!   from [`crate::webhooks`];
//! - `release_slot(...)` and the `import_...` functions: the release of a
//!   user's running slot and the bookkeeping of an import's items, shared
//!   by the scripts that move jobs (see [`LIBRARY`]).
//!
//! So a field is renamed in Rust alone, and a script that names a field or
//! argument that does not exist fails in the first test that runs it.

use redis::aio::ConnectionManager;
use redis::{RedisError, Script};

use super::JobStatus;
use super::record::{entry_field, field, user_field};
use crate::imports::{self, ImportStatus};
use crate::webhooks;

/// The Lua prelude that names the keys, arguments, fields and states.
fn prelude(keys: &[&str], args: &[&str], rest: bool) -> String {
    fn table(name: &str, entries: impl Iterator<Item = (String, String)>) -> String {
        let body: Vec<String> = entries.map(|(k, v)| format!("{k} = {v}")).collect();
        format!("local {name} = {{{}}}\n", body.join(", "))
    }
    let quoted = |names: &'static [(&'static str, &'static str)]| {
        names
            .iter()
            .map(|(rust, stored)| (rust.to_lowercase(), format!("'{stored}'")))
    };
    let mut lua = String::new();
    lua += &table(
        "K",
        keys.iter()
            .enumerate()
            .map(|(i, k)| ((*k).to_owned(), format!("KEYS[{}]", i + 1))),
    );
    lua += &table(
        "A",
        args.iter()
            .enumerate()
            .map(|(i, a)| ((*a).to_owned(), format!("ARGV[{}]", i + 1))),
    );
    if rest {
        lua += &format!(
            "local REST = {{}}\nfor i = {}, #ARGV do REST[#REST + 1] = ARGV[i] end\n",
            args.len() + 1
        );
    }
    lua += &table("F", quoted(field::ALL));
    lua += &table("U", quoted(user_field::ALL));
    lua += &table("E", quoted(entry_field::ALL));
    lua += &table("I", quoted(imports::field::ALL));
    lua += &table("W", quoted(webhooks::field::ALL));
    lua += &table("WK", quoted(webhooks::key_part::ALL));
    lua += &table(
        "ET",
        webhooks::EventType::ALL
            .iter()
            .map(|t| (t.as_str().replace('.', "_"), format!("'{}'", t.as_str()))),
    );
    lua += &table("IK", quoted(imports::key_part::ALL));
    lua += &table(
        "IS",
        ImportStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), format!("'{}'", s.as_str()))),
    );
    lua += &table(
        "S",
        JobStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), format!("'{}'", s.as_str()))),
    );
    lua += LIBRARY;
    lua
}

/// Lua functions the scripts share, after the tables they use.
const LIBRARY: &str = r#"
-- Records a webhook delivery of an event of type `kind` with `data` (a
-- table, stored as JSON) to `url`, due at once; nothing for no URL.
local function hook_add(hook_prefix, url, target, kind, data, now)
  if not url or url == '' then
    return
  end
  local id = redis.call('INCR', hook_prefix .. WK.seq)
  redis.call('HSET', hook_prefix .. id, W.id, id, W.url, url, W.target, target, W.type, kind,
    W.data, cjson.encode(data), W.created, now, W.attempts, 0)
  redis.call('ZADD', hook_prefix .. WK.due, now, id)
  redis.call('ZADD', hook_prefix .. WK.pending, now, id)
  redis.call('PUBLISH', hook_prefix .. WK.wake, id)
end

-- Records an event for the operator's URL and, when given, a client's.
local function hook_event(hook_prefix, operator_url, callback_url, kind, data, now)
  hook_add(hook_prefix, operator_url, 'operator', kind, data, now)
  hook_add(hook_prefix, callback_url, 'callback', kind, data, now)
end

-- A job of user_id stopped running (job_id, or '' when none did): forget
-- it and the leases that ran out, and while the user is under the cap
-- move one parked job back to its lane's stream (`stream` for a record
-- that names none), rebuilt from its record.
local function release_slot(running, parked, parked_users, user_id, job_id, cap, now, stream, record_prefix)
  redis.call('ZREM', running, job_id)
  redis.call('ZREMRANGEBYSCORE', running, '-inf', now)
  if redis.call('ZCARD', running) < tonumber(cap) then
    local next_id = redis.call('LPOP', parked)
    if next_id then
      local fields = redis.call('HMGET', record_prefix .. next_id, F.job, F.stamp, F.stream)
      if fields[1] and fields[2] then
        redis.call('XADD', fields[3] or stream, '*', E.job, fields[1], E.stamp, fields[2])
      end
    end
  end
  if redis.call('LLEN', parked) == 0 then
    redis.call('ZREM', parked_users, user_id)
  end
end

-- The import record key of the job record `job`, or nil for a job that is
-- no import item; with the item's index, user and source URL.
local function import_item(job, import_prefix)
  local f = redis.call('HMGET', job, F.import, F.index, F.user, F.url)
  if not f[1] then
    return nil
  end
  return import_prefix .. f[1], f[2], f[3], f[4]
end

-- Moves one item of the import `imp` from count `from` to count `to`.
local function import_move(imp, from, to, now)
  redis.call('HINCRBY', imp, from, -1)
  redis.call('HINCRBY', imp, to, 1)
  redis.call('HSET', imp, I.updated, now)
end

-- Ends the import `imp` once its body is read and none of its items is
-- queued or processing: it is completed unless it was cancelled, its keys
-- expire after `ttl` seconds (0: never), and `import.completed` is
-- recorded for the operator's URL and the import's callback.
local function import_settle(imp, now, ttl, hook_prefix, hook_url)
  local f = redis.call('HMGET', imp, I.status, I.queued, I.processing, I.open, I.finished,
    I.id, I.callback)
  if not f[1] or f[4] or f[5] or tonumber(f[2]) > 0 or tonumber(f[3]) > 0 then
    return
  end
  if f[1] == IS.running then
    redis.call('HSET', imp, I.status, IS.completed)
  end
  redis.call('HSET', imp, I.finished, now, I.updated, now)
  hook_event(hook_prefix, hook_url, f[7], ET.import_completed, {importId = f[6]}, now)
  if tonumber(ttl) > 0 then
    for _, key in ipairs({imp, imp .. IK.failures, imp .. IK.urls}) do
      redis.call('EXPIRE', key, ttl)
    end
  end
end

-- Lists a failed item of the import `imp`.
local function import_failure(imp, index, user_id, url, code, message)
  local entry = cjson.encode({index = tonumber(index), userId = user_id, avatarUrl = url,
    error = {code = code, message = message}})
  redis.call('ZADD', imp .. IK.failures, index, entry)
end

-- The items waiting for job `job_id`, the first of their URL in `imp`:
-- the key of their list.
local function import_after(imp, job_id)
  return imp .. IK.after .. job_id
end

-- Sends the items waiting for `job_id` to `stream`, rebuilt from their
-- records: the first of their URL has stored its avatar.
local function import_release_after(imp, job_id, record_prefix, stream)
  local after = import_after(imp, job_id)
  for _, id in ipairs(redis.call('LRANGE', after, 0, -1)) do
    local f = redis.call('HMGET', record_prefix .. id, F.job, F.stamp)
    if f[1] and f[2] then
      redis.call('XADD', stream, '*', E.job, f[1], E.stamp, f[2])
    end
  end
  redis.call('DEL', after)
end

-- Ends the items waiting for `job_id` as `status` (failed, with `code`
-- and `message`, recorded for the operator's URL as `avatar.failed`; or
-- cancelled). A failed one moves from the queued count; a cancelled one
-- was counted by the cancel.
local function import_end_after(imp, job_id, record_prefix, url, status, code, message, now, ttl,
    hook_prefix, hook_url)
  local after = import_after(imp, job_id)
  for _, id in ipairs(redis.call('LRANGE', after, 0, -1)) do
    local record = record_prefix .. id
    local f = redis.call('HMGET', record, F.index, F.user)
    redis.call('HSET', record, F.status, status, F.updated, now)
    if status == S.failed then
      redis.call('HSET', record, F.error_code, code, F.error_message, message)
      import_failure(imp, f[1], f[2], url, code, message)
      import_move(imp, I.queued, I.failed, now)
      hook_event(hook_prefix, hook_url, nil, ET.avatar_failed,
        {userId = f[2], jobId = id, error = {code = code, message = message}}, now)
    end
    if tonumber(ttl) > 0 then
      redis.call('EXPIRE', record, ttl)
    end
  end
  redis.call('DEL', after)
end

-- The first item of `url` (job `job_id`) will not store an avatar: the
-- next item waiting for it takes its place, or the URL is forgotten.
local function import_pass_on(imp, job_id, url, record_prefix, stream)
  local after = import_after(imp, job_id)
  local next_id = redis.call('LPOP', after)
  if not next_id then
    redis.call('HDEL', imp .. IK.urls, url)
    return
  end
  redis.call('HSET', imp .. IK.urls, url, next_id)
  if redis.call('EXISTS', after) == 1 then
    redis.call('RENAME', after, import_after(imp, next_id))
  end
  local f = redis.call('HMGET', record_prefix .. next_id, F.job, F.stamp)
  if f[1] and f[2] then
    redis.call('XADD', stream, '*', E.job, f[1], E.stamp, f[2])
  end
end
"#;

/// Declares a script wrapper: its Lua file, its keys (all `&str`), its
/// arguments and, optionally, a trailing list of arguments.
macro_rules! script {
    (
        $(#[$doc:meta])*
        $name:ident<$lt:lifetime>($file:literal) -> $ret:ty {
            keys { $($key:ident),* $(,)? }
            args { $($(#[$arg_doc:meta])* $arg:ident: $arg_ty:ty),* $(,)? }
            $(rest { $(#[$rest_doc:meta])* $rest:ident: $rest_ty:ty })?
        }
    ) => {
        $(#[$doc])*
        pub(crate) struct $name<$lt> {
            $(pub $key: &$lt str,)*
            $($(#[$arg_doc])* pub $arg: $arg_ty,)*
            $($(#[$rest_doc])* pub $rest: $rest_ty,)?
        }

        impl $name<'_> {
            fn script() -> &'static Script {
                static SCRIPT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
                    let keys: &[&str] = &[$(stringify!($key)),*];
                    let args: &[&str] = &[$(stringify!($arg)),*];
                    let rest: &[&str] = &[$(stringify!($rest)),*];
                    let prelude = prelude(keys, args, !rest.is_empty());
                    Script::new(&format!("{prelude}{}", include_str!($file)))
                });
                &SCRIPT
            }

            /// Runs the script on `conn`.
            pub async fn invoke(&self, conn: &mut ConnectionManager) -> Result<$ret, RedisError> {
                let script = Self::script();
                let mut call = script.prepare_invoke();
                $(call.key(self.$key);)*
                $(call.arg(&self.$arg);)*
                $(call.arg(self.$rest);)?
                call.invoke_async(conn).await
            }
        }
    };
}

script! {
    /// Accepts a job: stamps it, records it and adds it to the stream; or,
    /// when its idempotency key was seen before, returns the earlier job.
    /// Returns `(stamp, job id)`: stamp 0 and the earlier id for a repeat.
    Enqueue<'a>("lua/enqueue.lua") -> (u64, String) {
        keys { user, job, stream, idempotency }
        args {
            job_id: &'a str,
            user_id: &'a str,
            now_ms: u64,
            /// The [`Job`](super::Job) as JSON.
            job_json: &'a str,
            now_us: u64,
            /// The idempotency key, or empty for none (then `idempotency`
            /// may name any key).
            idempotency_key: &'a str,
            idempotency_ttl_secs: u64,
            /// The job's `callbackUrl`, or empty.
            callback_url: &'a str,
        }
    }
}

script! {
    /// Marks a job as being processed and counts the attempt, unless its
    /// user already runs `cap` jobs: then the job is parked until one of
    /// them ends, and its entry acknowledged. An import item ends here
    /// instead when its import was cancelled, or when it may only fill a
    /// missing avatar and its user has one. Returns `(attempts, retries,
    /// retry_from, accepted_us)`, with attempts -1 for a parked job, -2 for
    /// a cancelled one, -3 for a skipped one and -4 for one that had ended
    /// already (a stale entry).
    Start<'a>("lua/start.lua") -> (i64, u32, u64, u64) {
        keys { job, user, stream, running, parked, parked_users }
        args {
            now_ms: u64,
            now_us: u64,
            /// The retry budget's start for a record that lacks one.
            default_retry_from: u64,
            group: &'a str,
            entry: &'a str,
            job_id: &'a str,
            user_id: &'a str,
            /// Most jobs one user may run at once; 0: no cap.
            cap: u32,
            /// How long a running job counts against the cap without
            /// ending (a worker that died), in ms.
            lease_ms: u64,
            record_prefix: &'a str,
            import_prefix: &'a str,
            /// Lifetime of a record that ends here; 0 keeps it.
            record_ttl_secs: u64,
            hook_prefix: &'a str,
            /// The operator's webhook URL, or empty.
            hook_url: &'a str,
        }
    }
}

script! {
    /// Records a finished avatar, makes it current unless a later one
    /// already is, acknowledges the entry, schedules the deletion of the
    /// avatar no longer current, and announces the job. Returns 1 when this
    /// avatar became current.
    Complete<'a>("lua/complete.lua") -> u8 {
        keys { job, user, stream, garbage, running, parked, parked_users }
        args {
            user_id: &'a str,
            cap: u32,
            record_prefix: &'a str,
            group: &'a str,
            entry: &'a str,
            stamp: u64,
            object_key: &'a str,
            now_ms: u64,
            /// Lifetime of the ended record; 0 keeps it.
            record_ttl_secs: u64,
            job_id: &'a str,
            channel: &'a str,
            /// When the avatar no longer current may be deleted (unix ms).
            delete_after_ms: u64,
            import_prefix: &'a str,
            hook_prefix: &'a str,
            hook_url: &'a str,
        }
    }
}

script! {
    /// Records a failed job, indexes it for `requeue-failed`, acknowledges
    /// its entry and announces it.
    Fail<'a>("lua/fail.lua") -> i64 {
        keys { job, stream, failed, running, parked, parked_users }
        args {
            user_id: &'a str,
            cap: u32,
            record_prefix: &'a str,
            group: &'a str,
            entry: &'a str,
            code: &'a str,
            message: &'a str,
            now_ms: u64,
            record_ttl_secs: u64,
            job_id: &'a str,
            channel: &'a str,
            import_prefix: &'a str,
            hook_prefix: &'a str,
            hook_url: &'a str,
        }
    }
}

script! {
    /// Takes a job off the stream into the retry set, due at `due_ms`.
    RetryLater<'a>("lua/retry.lua") -> i64 {
        keys { job, stream, retry, running, parked, parked_users }
        args {
            user_id: &'a str,
            cap: u32,
            record_prefix: &'a str,
            group: &'a str,
            entry: &'a str,
            due_ms: u64,
            job_id: &'a str,
            now_ms: u64,
            reason: &'a str,
            import_prefix: &'a str,
            record_ttl_secs: u64,
            hook_prefix: &'a str,
            hook_url: &'a str,
        }
    }
}

script! {
    /// Puts jobs back on the stream, rebuilt from their records: due
    /// retries (`kind` "retry") or failed jobs an operator queues again
    /// ("failed"). Returns how many moved.
    Requeue<'a>("lua/requeue.lua") -> u64 {
        keys { stream, from }
        args {
            kind: &'a str,
            /// The job-record key prefix, ending in ':'.
            record_prefix: &'a str,
            now_ms: u64,
        }
        rest {
            /// The job ids.
            ids: &'a [String]
        }
    }
}

script! {
    /// Moves parked jobs back to the stream for the users (of the first
    /// `limit` with parked jobs) now under the cap: their running jobs
    /// ended without releasing, as when a worker died. Returns nothing.
    PromoteParked<'a>("lua/promote_parked.lua") -> () {
        keys { parked_users, stream }
        args {
            running_prefix: &'a str,
            parked_prefix: &'a str,
            record_prefix: &'a str,
            cap: u32,
            now_ms: u64,
            limit: u32,
        }
    }
}

script! {
    /// Takes one of the `limit` fetch permits of an origin host for
    /// `member` until `now_ms + lease_ms`, forgetting permits whose lease
    /// ran out (their worker died mid-fetch). Returns 1 when taken, 0 when
    /// every permit is held.
    AcquireHost<'a>("lua/acquire_host.lua") -> u8 {
        keys { permits }
        args {
            member: &'a str,
            now_ms: u64,
            lease_ms: u64,
            limit: u32,
        }
    }
}

script! {
    /// Accepts a batch of an import's items, in index order (see
    /// `import_items.lua` for the layout of `items`). Returns how many
    /// became jobs.
    ImportItems<'a>("lua/import_items.lua") -> u64 {
        keys { import, stream, failures, urls }
        args {
            import_id: &'a str,
            now_ms: u64,
            now_us: u64,
            user_prefix: &'a str,
            record_prefix: &'a str,
        }
        rest {
            /// Six values per item.
            items: &'a [String]
        }
    }
}

script! {
    /// Marks an import's body as read whole; returns its total.
    ImportSeal<'a>("lua/import_seal.lua") -> u64 {
        keys { import }
        args {
            now_ms: u64,
            record_ttl_secs: u64,
            hook_prefix: &'a str,
            hook_url: &'a str,
        }
    }
}

script! {
    /// Cancels an import's items not yet started. Returns 0 when there is
    /// no such import.
    ImportCancel<'a>("lua/import_cancel.lua") -> u8 {
        keys { import }
        args {
            now_ms: u64,
            record_ttl_secs: u64,
            hook_prefix: &'a str,
            hook_url: &'a str,
        }
    }
}

script! {
    /// Claims up to `limit` due webhook deliveries for `lease_ms`; returns
    /// their records' fields.
    HooksClaim<'a>("lua/hooks_claim.lua") -> Vec<std::collections::HashMap<String, String>> {
        keys { due, pending }
        args {
            hook_prefix: &'a str,
            now_ms: u64,
            lease_ms: u64,
            limit: u32,
        }
    }
}

script! {
    /// Forgets a delivered or given-up webhook delivery.
    HooksEnd<'a>("lua/hooks_end.lua") -> u8 {
        keys { due, pending }
        args {
            hook_prefix: &'a str,
            id: u64,
        }
    }
}

script! {
    /// Schedules a webhook delivery's next attempt at `due_ms`.
    HooksRetry<'a>("lua/hooks_retry.lua") -> u8 {
        keys { due }
        args {
            hook_prefix: &'a str,
            id: u64,
            due_ms: u64,
            reason: &'a str,
        }
    }
}

script! {
    /// Puts entries a worker holds but will not run back at the end of the
    /// stream, so another worker takes them at once. Returns how many.
    HandBack<'a>("lua/hand_back.lua") -> u64 {
        keys { stream }
        args { group: &'a str }
        rest {
            /// The stream entry ids.
            entries: &'a [String]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_names_keys_arguments_and_the_rest_in_order() {
        let lua = prelude(&["job", "stream"], &["group", "entry"], true);
        assert!(
            lua.contains("local K = {job = KEYS[1], stream = KEYS[2]}"),
            "{lua}"
        );
        assert!(
            lua.contains("local A = {group = ARGV[1], entry = ARGV[2]}"),
            "{lua}"
        );
        assert!(lua.contains("for i = 3, #ARGV do"), "{lua}");
        assert!(lua.contains("status = 'status'"), "{lua}");
        assert!(lua.contains("retry_later = 'retry_later'"), "{lua}");
    }
}
