//! The Kafka message that carries one reserved order from the API to the inventory worker.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Topic every reserved order is produced to, keyed by product id.
pub const ORDERS_TOPIC: &str = "orders";
/// Topic for messages the worker cannot apply (unparseable, unknown product, oversell refused).
pub const DLQ_TOPIC: &str = "orders.dlq";

/// `{"orderId","idempotencyKey","productId","userId","reservedAt"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    pub order_id: Uuid,
    pub idempotency_key: String,
    pub product_id: String,
    pub user_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub reserved_at: OffsetDateTime,
}

impl OrderMessage {
    /// Serialises the message. Fails only for a timestamp outside RFC 3339's years 0–9999.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Parses a message, rejecting anything the worker could not persist as is.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_the_documented_field_names() {
        let m = OrderMessage {
            order_id: Uuid::nil(),
            idempotency_key: "k".into(),
            product_id: "p".into(),
            user_id: "u".into(),
            reserved_at: OffsetDateTime::UNIX_EPOCH,
        };
        let json = m.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"orderId":"00000000-0000-0000-0000-000000000000","idempotencyKey":"k","productId":"p","userId":"u","reservedAt":"1970-01-01T00:00:00Z"}"#
        );
        assert_eq!(OrderMessage::from_json(json.as_bytes()).unwrap(), m);
        assert!(OrderMessage::from_json(b"{}").is_err());
    }
}
