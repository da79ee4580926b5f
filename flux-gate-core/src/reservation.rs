//! The atomic reservation: one Lua script decides an order attempt inside Redis.
//!
//! Why one script: the idempotency check, the per-user limit, the stock check, the decrement,
//! the idempotency record and the outbox entry must be one indivisible step, or a crash or a
//! concurrent attempt between them oversells or loses an order. Redis runs a script without
//! interleaving any other command, and `redis::Script` re-loads it on `NOSCRIPT` (the script
//! cache is empty after a Redis restart).

use redis::aio::ConnectionLike;
use redis::{RedisResult, Script};
use uuid::Uuid;

use crate::contract::ValidOrder;
use crate::keys::ProductKeys;

/// How long an idempotency record lives: a retry within this window gets the original answer.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;

/// The reservation script's source (`lua/reserve.lua`).
pub const RESERVE_LUA: &str = include_str!("lua/reserve.lua");

/// What the script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stock was taken; the order sits in the outbox under this stream entry id.
    Reserved {
        outbox_entry: String,
    },
    /// The key was used before by `user` for `order_id`.
    Replay {
        order_id: Uuid,
        user: String,
    },
    SoldOut,
    UserLimit,
    UnknownProduct,
}

/// The loaded script; cheap to clone and share.
#[derive(Clone)]
pub struct Reserver {
    script: std::sync::Arc<Script>,
}

impl Default for Reserver {
    fn default() -> Self {
        Reserver {
            script: std::sync::Arc::new(Script::new(RESERVE_LUA)),
        }
    }
}

impl Reserver {
    /// A reserver running `lua` in place of [`RESERVE_LUA`]: the seam through which the
    /// mutation suite's broken builds (flux-gate-chaos/fixtures/mutants) run a wrong script in
    /// an otherwise real API. The script must keep [`RESERVE_LUA`]'s keys, arguments and
    /// replies. `flux-gate` itself only ever uses [`Reserver::default`].
    pub fn with_script(lua: &str) -> Self {
        Reserver {
            script: std::sync::Arc::new(Script::new(lua)),
        }
    }

    /// Runs the reservation for a validated order. `message_json` is the Kafka message the
    /// outbox will hold, built by the caller with `order_id` inside it.
    pub async fn reserve<C: ConnectionLike>(
        &self,
        con: &mut C,
        order: &ValidOrder,
        order_id: Uuid,
        message_json: &str,
    ) -> RedisResult<Outcome> {
        let keys = ProductKeys::new(&order.product);
        let reply: RedisResult<Vec<String>> = self
            .script
            .key(keys.stock())
            .key(keys.idem(&order.key))
            .key(keys.user(&order.user))
            .key(keys.outbox())
            .key(keys.sale())
            .arg(order.user.as_str())
            .arg(order_id.to_string())
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(message_json)
            .invoke_async(con)
            .await;
        decode(&order_id.to_string(), reply?)
    }
}

/// Decodes the script's reply. A reply whose echo is not `token`, or that has a shape the
/// script never returns, means the connection is out of step with its callers: it is
/// reported as an I/O error so the connection is retired (see `redis_link.rs`).
fn decode(token: &str, reply: Vec<String>) -> RedisResult<Outcome> {
    let out_of_step = |reply: &[String]| {
        redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("reservation reply {reply:?} does not answer request {token}"),
        ))
    };
    let Some((echo, rest)) = reply.split_first() else {
        return Err(out_of_step(&reply));
    };
    if echo != token {
        return Err(out_of_step(&reply));
    }
    match rest {
        [tag, entry] if tag == "reserved" => Ok(Outcome::Reserved {
            outbox_entry: entry.clone(),
        }),
        [tag, prior] if tag == "replay" => {
            let (id, user) = prior.split_once('|').ok_or_else(|| out_of_step(&reply))?;
            let order_id = Uuid::parse_str(id).map_err(|_| out_of_step(&reply))?;
            Ok(Outcome::Replay {
                order_id,
                user: user.to_owned(),
            })
        }
        [tag] if tag == "sold_out" => Ok(Outcome::SoldOut),
        [tag] if tag == "user_limit" => Ok(Outcome::UserLimit),
        [tag] if tag == "unknown_product" => Ok(Outcome::UnknownProduct),
        _ => Err(out_of_step(&reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        std::iter::once("t")
            .chain(items.iter().copied())
            .map(String::from)
            .collect()
    }

    fn decode(reply: Vec<String>) -> RedisResult<Outcome> {
        super::decode("t", reply)
    }

    #[test]
    fn decodes_every_answer() {
        assert_eq!(
            decode(v(&["reserved", "1-0"])).unwrap(),
            Outcome::Reserved {
                outbox_entry: "1-0".into()
            }
        );
        let id = Uuid::now_v7();
        assert_eq!(
            decode(v(&["replay", &format!("{id}|a|b")])).unwrap(),
            Outcome::Replay {
                order_id: id,
                user: "a|b".into()
            }
        );
        assert_eq!(decode(v(&["sold_out"])).unwrap(), Outcome::SoldOut);
        assert_eq!(decode(v(&["user_limit"])).unwrap(), Outcome::UserLimit);
        assert_eq!(
            decode(v(&["unknown_product"])).unwrap(),
            Outcome::UnknownProduct
        );
        assert!(decode(v(&["replay", "not-a-uuid|u"])).is_err());
        assert!(decode(v(&["what"])).is_err());
    }

    #[test]
    fn a_reply_for_another_request_is_an_io_error() {
        let err = super::decode("mine", vec!["theirs".into(), "sold_out".into()]).unwrap_err();
        assert!(err.is_io_error(), "{err}");
        assert!(super::decode("mine", vec![]).unwrap_err().is_io_error());
    }
}
