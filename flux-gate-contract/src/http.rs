//! The ingestion API's HTTP contract: request bodies, answer bodies, status words and the
//! validation rules for every identifier that reaches Redis, Kafka or PostgreSQL.
//!
//! The harness (`fgchaos`) and outside clients depend on these shapes, so they live in the
//! contract crate and are tested as pure functions. Validation happens once, here, at the edge: past
//! [`parse_order`] every identifier is known to be safe inside a Redis key and a SQL parameter.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Header carrying the client's idempotency key on `POST /order`.
pub const IDEMPOTENCY_HEADER: &str = "x-idempotency-key";
/// Response header set when an answer replays an earlier outcome for the same key.
pub const REPLAY_HEADER: &str = "x-idempotent-replay";
/// Largest request body the API reads; larger bodies get 413 without being buffered.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Largest stock a sale may start with (it must fit PostgreSQL's `integer`).
pub const MAX_QUANTITY: i64 = i32::MAX as i64;

/// The stable `status` word of every answer body. Clients switch on this, never on prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reserved in Redis and delivered to Kafka.
    Success,
    /// Reserved in Redis; Kafka did not confirm in time, the outbox relay will deliver it.
    Pending,
    /// No stock left.
    SoldOut,
    /// The buyer already holds the sale's per-user limit.
    UserLimit,
    /// The idempotency key was used before with a different body.
    IdempotencyConflict,
    /// Malformed JSON, missing or malformed field or header.
    BadRequest,
    /// The product has no running sale.
    UnknownProduct,
    /// The body is larger than [`MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// Redis (or another dependency) could not answer in time; retry after `Retry-After`.
    Unavailable,
    /// Missing or wrong admin token.
    Unauthorized,
    /// Load shedding sent the buyer to the waiting room.
    WaitingRoom,
    /// No such route.
    NotFound,
    /// Method not allowed on this route.
    MethodNotAllowed,
    /// Administrative or informational success (`/init`, `/stock`).
    Ok,
}

impl Status {
    /// The HTTP status code that goes with this word.
    pub fn http_code(self) -> u16 {
        match self {
            Status::Success | Status::Ok => 200,
            Status::Pending => 202,
            Status::WaitingRoom => 302,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::UnknownProduct | Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::SoldOut => 409,
            Status::PayloadTooLarge => 413,
            Status::IdempotencyConflict => 422,
            Status::UserLimit => 429,
            Status::Unavailable => 503,
        }
    }

    /// The word as it appears in JSON and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Pending => "pending",
            Status::SoldOut => "sold_out",
            Status::UserLimit => "user_limit",
            Status::IdempotencyConflict => "idempotency_conflict",
            Status::BadRequest => "bad_request",
            Status::UnknownProduct => "unknown_product",
            Status::PayloadTooLarge => "payload_too_large",
            Status::Unavailable => "unavailable",
            Status::Unauthorized => "unauthorized",
            Status::WaitingRoom => "waiting_room",
            Status::NotFound => "not_found",
            Status::MethodNotAllowed => "method_not_allowed",
            Status::Ok => "ok",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every answer body of the API: a status word, the order id when there is one, and a
/// human-readable message for errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

impl Answer {
    pub fn order(status: Status, order_id: Uuid) -> Self {
        Answer {
            status,
            order_id: Some(order_id),
            message: None,
        }
    }

    pub fn error(status: Status, message: impl Into<String>) -> Self {
        Answer {
            status,
            order_id: None,
            message: Some(message.into()),
        }
    }

    pub fn bare(status: Status) -> Self {
        Answer {
            status,
            order_id: None,
            message: None,
        }
    }
}

/// `GET /stock/{productId}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockAnswer {
    pub status: Status,
    pub product_id: String,
    pub stock: i64,
}

/// `POST /init` body as sent by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitRequest {
    pub product_id: String,
    pub quantity: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user_limit: Option<i64>,
}

/// `POST /order` body as sent by the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRequest {
    pub product_id: String,
    pub user_id: String,
}

/// Why a request was refused before touching Redis. Each maps to one [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {MAX_BODY_BYTES} bytes; send a smaller JSON body")]
    TooLarge,
}

impl Invalid {
    pub fn status(&self) -> Status {
        match self {
            Invalid::BadRequest(_) => Status::BadRequest,
            Invalid::TooLarge => Status::PayloadTooLarge,
        }
    }
}

/// A product id: 1–64 characters of `[A-Za-z0-9_.:-]`. The set excludes `{`, `}`, spaces and
/// glob characters, so an id can sit inside a Redis hash tag and a `SCAN MATCH` pattern as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProductId(String);

/// A buyer id: 1–128 printable, non-space characters (any script).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

/// An idempotency key: 1–128 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
string_newtype!(ProductId);
string_newtype!(UserId);
string_newtype!(IdempotencyKey);

impl ProductId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(ok_char) {
            return Err(Invalid::BadRequest(format!(
                "productId {} is invalid: use 1-64 characters of A-Z a-z 0-9 _ . : -",
                quoted(raw)
            )));
        }
        Ok(ProductId(raw.to_owned()))
    }
}

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let count = raw.chars().count();
        let ok_char = |c: char| !c.is_control() && !c.is_whitespace();
        if count == 0 || count > 128 || !raw.chars().all(ok_char) {
            return Err(Invalid::BadRequest(format!(
                "userId {} is invalid: use 1-128 printable characters without spaces",
                quoted(raw)
            )));
        }
        Ok(UserId(raw.to_owned()))
    }
}

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, Invalid> {
        let ok_byte = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-');
        if raw.is_empty() || raw.len() > 128 || !raw.iter().all(ok_byte) {
            return Err(Invalid::BadRequest(format!(
                "header {IDEMPOTENCY_HEADER} is invalid: use 1-128 characters of A-Z a-z 0-9 _ - \
                 (a UUID works)"
            )));
        }
        // Every byte is ASCII, checked above.
        Ok(IdempotencyKey(String::from_utf8_lossy(raw).into_owned()))
    }
}

/// A fully validated order attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrder {
    pub key: IdempotencyKey,
    pub product: ProductId,
    pub user: UserId,
}

/// A fully validated `/init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidInit {
    pub product: ProductId,
    pub quantity: i64,
    /// `None` means no per-user limit.
    pub per_user_limit: Option<i64>,
}

/// Validates an order attempt from its idempotency header (absent = `None`) and raw body.
/// Pure, total and panic-free on any input (property-tested below on arbitrary bytes).
pub fn parse_order(key_header: Option<&[u8]>, body: &[u8]) -> Result<ValidOrder, Invalid> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Invalid::TooLarge);
    }
    let key = match key_header {
        None => {
            return Err(Invalid::BadRequest(format!(
                "missing header {IDEMPOTENCY_HEADER}: send a unique key per order attempt \
                 and reuse it on retries"
            )))
        }
        Some(raw) => IdempotencyKey::parse(raw)?,
    };
    let req: OrderRequest = parse_json(body, r#"{"productId":"…","userId":"…"}"#)?;
    Ok(ValidOrder {
        key,
        product: ProductId::parse(&req.product_id)?,
        user: UserId::parse(&req.user_id)?,
    })
}

/// Validates a `/init` body.
pub fn parse_init(body: &[u8]) -> Result<ValidInit, Invalid> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Invalid::TooLarge);
    }
    let req: InitRequest =
        parse_json(body, r#"{"productId":"…","quantity":100,"perUserLimit":1}"#)?;
    let product = ProductId::parse(&req.product_id)?;
    if !(0..=MAX_QUANTITY).contains(&req.quantity) {
        return Err(Invalid::BadRequest(format!(
            "quantity {} is out of range: use a whole number from 0 to {MAX_QUANTITY}",
            req.quantity
        )));
    }
    let per_user_limit = match req.per_user_limit {
        None => None,
        Some(n) if (1..=MAX_QUANTITY).contains(&n) => Some(n),
        Some(n) => {
            return Err(Invalid::BadRequest(format!(
                "perUserLimit {n} is out of range: use a whole number from 1 to {MAX_QUANTITY}, \
                 or leave it out for no limit"
            )))
        }
    };
    Ok(ValidInit {
        product,
        quantity: req.quantity,
        per_user_limit,
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], example: &str) -> Result<T, Invalid> {
    if std::str::from_utf8(body).is_err() {
        return Err(Invalid::BadRequest(format!(
            "request body is not UTF-8: send a JSON object like {example}"
        )));
    }
    // serde would also accept a JSON array for a struct (`["p","u"]`); the contract is an object.
    if body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b != b'{')
    {
        return Err(Invalid::BadRequest(format!(
            "request body must be a JSON object like {example}"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Invalid::BadRequest(format!(
            "request body is not valid: {e}; send a JSON object like {example}"
        ))
    })
}

/// Quotes untrusted input for an error message, cut short so a huge value cannot bloat it.
fn quoted(raw: &str) -> String {
    let cut: String = raw.chars().take(40).collect();
    let ellipsis = if cut.len() < raw.len() { "…" } else { "" };
    format!("{:?}", format!("{cut}{ellipsis}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(key: Option<&str>, body: &str) -> Result<ValidOrder, Invalid> {
        parse_order(key.map(str::as_bytes), body.as_bytes())
    }

    #[test]
    fn accepts_a_well_formed_order() {
        let o = order(
            Some("k-1_A"),
            r#"{"productId":"iphone-15","userId":"alice"}"#,
        )
        .unwrap();
        assert_eq!(o.key.as_str(), "k-1_A");
        assert_eq!(o.product.as_str(), "iphone-15");
        assert_eq!(o.user.as_str(), "alice");
    }

    #[test]
    fn rejects_missing_and_malformed_keys() {
        let body = r#"{"productId":"p","userId":"u"}"#;
        assert!(
            matches!(order(None, body), Err(Invalid::BadRequest(m)) if m.contains("missing header"))
        );
        for bad in ["", "has space", "a{b}", "ü", &"x".repeat(129)] {
            assert!(order(Some(bad), body).is_err(), "{bad:?} accepted");
        }
        assert!(order(Some(&"x".repeat(128)), body).is_ok());
    }

    #[test]
    fn rejects_bad_bodies_with_a_reason() {
        let k = Some("k");
        for (body, needle) in [
            ("", "EOF"),
            ("{", "EOF"),
            ("[]", "JSON object"),
            (r#"["p","u"]"#, "JSON object"),
            (r#"{"productId":"p"}"#, "missing field `userId`"),
            (
                r#"{"productId":"p","userId":"u","x":1}"#,
                "unknown field `x`",
            ),
            (r#"{"productId":7,"userId":"u"}"#, "invalid type"),
            (r#"{"productId":"a b","userId":"u"}"#, "productId"),
            (r#"{"productId":"{p}","userId":"u"}"#, "productId"),
            (r#"{"productId":"p*","userId":"u"}"#, "productId"),
            (r#"{"productId":"p","userId":""}"#, "userId"),
            (r#"{"productId":"p","userId":"a\nb"}"#, "userId"),
        ] {
            match order(k, body) {
                Err(Invalid::BadRequest(m)) => assert!(m.contains(needle), "{body}: {m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let not_utf8 = parse_order(Some(b"k"), &[0xff, 0xfe, b'{']);
        assert!(matches!(not_utf8, Err(Invalid::BadRequest(m)) if m.contains("not UTF-8")));
        let huge = format!(
            r#"{{"productId":"p","userId":"{}"}}"#,
            "u".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(order(k, &huge), Err(Invalid::TooLarge));
    }

    #[test]
    fn init_validates_ranges() {
        let ok = parse_init(br#"{"productId":"p","quantity":100,"perUserLimit":2}"#).unwrap();
        assert_eq!((ok.quantity, ok.per_user_limit), (100, Some(2)));
        assert_eq!(
            parse_init(br#"{"productId":"p","quantity":0}"#)
                .unwrap()
                .per_user_limit,
            None
        );
        for body in [
            r#"{"productId":"p","quantity":-1}"#,
            r#"{"productId":"p","quantity":2147483648}"#,
            r#"{"productId":"p","quantity":1e99}"#,
            r#"{"productId":"p","quantity":10,"perUserLimit":0}"#,
            r#"{"productId":"p"}"#,
        ] {
            assert!(parse_init(body.as_bytes()).is_err(), "{body} accepted");
        }
    }

    #[test]
    fn status_words_and_codes_are_stable() {
        let a = Answer::order(Status::Success, Uuid::nil());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"status":"success","orderId":"00000000-0000-0000-0000-000000000000"}"#
        );
        assert_eq!(
            serde_json::to_string(&Status::SoldOut).unwrap(),
            r#""sold_out""#
        );
        assert_eq!(Status::SoldOut.as_str(), "sold_out");
        assert_eq!(Status::IdempotencyConflict.http_code(), 422);
        assert_eq!(Status::Pending.http_code(), 202);
    }

    #[test]
    fn error_messages_quote_input_briefly() {
        let Err(Invalid::BadRequest(m)) = ProductId::parse(&"{".repeat(1000)) else {
            panic!("accepted")
        };
        assert!(m.len() < 200, "{m}");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Arbitrary headers and bodies never panic, and whatever is accepted is valid.
            #[test]
            fn parse_order_is_total(key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
                                    body in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(o) = parse_order(key.as_deref(), &body) {
                    prop_assert!(ProductId::parse(o.product.as_str()).is_ok());
                    prop_assert!(UserId::parse(o.user.as_str()).is_ok());
                    prop_assert!(IdempotencyKey::parse(o.key.as_str().as_bytes()).is_ok());
                }
            }

            /// JSON-shaped bodies with arbitrary strings: accepted exactly when every field is valid.
            #[test]
            fn parse_order_accepts_exactly_the_valid(product in ".{0,70}", user in ".{0,130}", key in "[A-Za-z0-9_-]{1,128}") {
                let body = serde_json::json!({"productId": product, "userId": user}).to_string();
                let valid = ProductId::parse(&product).is_ok() && UserId::parse(&user).is_ok();
                prop_assert_eq!(parse_order(Some(key.as_bytes()), body.as_bytes()).is_ok(), valid);
            }

            #[test]
            fn parse_init_is_total(body in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(i) = parse_init(&body) {
                    prop_assert!((0..=MAX_QUANTITY).contains(&i.quantity));
                }
            }
        }
    }
}
