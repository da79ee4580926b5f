//! Redis key names: part of the contract that the harness and outside tools read.
//!
//! Every per-product key carries the product id as a hash tag (`{…}`) so all of a product's
//! keys live in one Redis Cluster slot and the reservation script may touch them together.
//! Product ids are validated ([`crate::http::ProductId`]) to contain no braces, spaces or
//! glob characters, so they are safe inside a tag and a `SCAN MATCH` pattern.

use crate::http::{IdempotencyKey, ProductId, UserId};

/// Set of every product id that ever had a sale; the outbox relay and the reconciler walk it.
pub const PRODUCTS: &str = "fg:products";

/// The keys of one product's sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductKeys {
    prefix: String,
}

impl ProductKeys {
    pub fn new(product: &ProductId) -> Self {
        ProductKeys {
            prefix: format!("fg:{{{product}}}"),
        }
    }

    /// Remaining stock, an integer string. Never below 0.
    pub fn stock(&self) -> String {
        format!("{}:stock", self.prefix)
    }

    /// Hash with the sale's `initial` stock and `per_user_limit` (0 = none).
    pub fn sale(&self) -> String {
        format!("{}:sale", self.prefix)
    }

    /// Stream of reserved orders not yet confirmed by Kafka.
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.prefix)
    }

    /// Orders the outbox relay delivered to Kafka and cleared from the outbox (an integer;
    /// absent = 0): how much of the sale went through the relay rather than the request path.
    pub fn relayed(&self) -> String {
        format!("{}:relayed", self.prefix)
    }

    /// Outcome of one idempotency key: `<orderId>|<userId>`.
    pub fn idem(&self, key: &IdempotencyKey) -> String {
        format!("{}:idem:{key}", self.prefix)
    }

    /// Units one buyer holds in this sale.
    pub fn user(&self, user: &UserId) -> String {
        format!("{}:user:{user}", self.prefix)
    }

    /// Short lease so that only one API instance relays this product's outbox at a time.
    pub fn relay_lease(&self) -> String {
        format!("{}:relay-lease", self.prefix)
    }

    /// `SCAN MATCH` pattern for every key of this product.
    pub fn all_pattern(&self) -> String {
        format!("{}:*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let p = ProductId::parse("iphone-15").unwrap();
        let k = ProductKeys::new(&p);
        let key = IdempotencyKey::parse(b"abc").unwrap();
        let user = UserId::parse("u{1}").unwrap();
        assert_eq!(k.stock(), "fg:{iphone-15}:stock");
        assert_eq!(k.idem(&key), "fg:{iphone-15}:idem:abc");
        assert_eq!(k.outbox(), "fg:{iphone-15}:outbox");
        assert_eq!(k.relayed(), "fg:{iphone-15}:relayed");
        assert_eq!(k.user(&user), "fg:{iphone-15}:user:u{1}");
        assert_eq!(k.all_pattern(), "fg:{iphone-15}:*");
    }
}
