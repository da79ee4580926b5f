//! The JSON Schema of a fault, which `fgchaos schema` prints (`docs/scenario.schema.json`).
//! Hand-written because the reader is (`de.rs`): no derive sees the file's shape, one flat
//! mapping whose keys depend on `action`. Here each action is one closed object built from its
//! row of the key table, so an editor offers, and a schema check allows, exactly its keys.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::keys::Key;
use super::{Action, Fault, Stream, Target};
use crate::scenario::{Dur, WindowExpect};

/// One schema per action (`oneOf`), each with `action` fixed to its word, only its own keys
/// (`additionalProperties: false`), what it requires, and its target or `random` — not both.
impl JsonSchema for Fault {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Fault")
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let one_of: Vec<Value> = Action::ALL
            .into_iter()
            .map(|a| {
                let row = a.row();
                let properties: serde_json::Map<String, Value> = row
                    .keys
                    .iter()
                    .map(|k| (k.as_str().to_owned(), k.schema(g, a)))
                    .collect();
                let required: Vec<&str> = std::iter::once(Key::Action)
                    .chain(row.needs.iter().copied())
                    .map(Key::as_str)
                    .collect();
                json!({
                    "title": row.word,
                    "description": row.doc,
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "oneOf": [
                        { "required": [row.target.key().as_str()] },
                        { "required": [Key::Random.as_str()] },
                    ],
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "One fault. `action` decides which keys it takes; `at` is required in `faults` and absent in a nemesis pool.",
            "oneOf": one_of,
        })
    }
}

impl Key {
    /// The JSON Schema of this key's value in a fault of action `a`.
    fn schema(self, g: &mut SchemaGenerator, a: Action) -> Value {
        let dur = |g: &mut SchemaGenerator, doc: &str| described(g.subschema_for::<Dur>(), doc);
        let count = |doc: &str| json!({ "type": "integer", "format": "uint64", "minimum": 0, "description": doc });
        let names = |doc: &str| json!({ "type": "array", "items": { "type": "string" }, "minItems": 1, "description": doc });
        match self {
            Key::At => dur(
                g,
                "When, from the start of the load (required in `faults`, absent in a nemesis pool).",
            ),
            Key::Action => json!({ "const": a.as_str(), "description": a.row().doc }),
            Key::Service if a == Action::Scale => json!({
                "type": "string",
                "description": "The whole swarm service (`inventory-worker`), one the stack file lists as `scalable:`.",
            }),
            Key::Service => json!({
                "type": "string",
                "description": "The service (`ingestion-api` = one replica chosen by the seed, `ingestion-api#2` = that replica).",
            }),
            Key::Link => json!({
                "type": "string",
                "description": "The link (a Toxiproxy proxy name).",
            }),
            Key::Links => names("The links cut together."),
            Key::Node => json!({
                "type": "string",
                "description": "The swarm node (its hostname or id, as `docker node ls` shows them).",
            }),
            Key::Random => names(match a.row().target {
                Target::Service => "Instead of `service`: one of these, chosen with the run's seed.",
                Target::Link => "Instead of `link`: one of these, chosen with the run's seed.",
                Target::Links => "Instead of `links`: one of these, chosen with the run's seed.",
                Target::Node => "Instead of `node`: one of these, chosen with the run's seed.",
            }),
            Key::Duration => dur(
                g,
                "Heal after this long (the opposite action, or the toxic removed).",
            ),
            Key::Grace => dur(g, "How long SIGTERM may take before SIGKILL (default 10s)."),
            Key::Latency => dur(g, "Added delay."),
            Key::Jitter => dur(g, "± variation of the delay."),
            Key::RateKb => count("KB/s."),
            Key::Timeout => dur(g, "When the connection is closed (0 or absent = never)."),
            Key::AverageSize => count("Mean piece size in bytes."),
            Key::SizeVariation => count("± bytes."),
            Key::Delay => dur(
                g,
                "`slicer`: delay between pieces; `slow_close`: delay of the close.",
            ),
            Key::Bytes => count("Bytes before the close."),
            Key::Replicas => json!({
                "type": "integer",
                "format": "uint32",
                "minimum": 1,
                "maximum": crate::scenario::MAX_REPLICAS,
                "description": "How many tasks the service runs while the fault is on.",
            }),
            Key::Stream => described(
                g.subschema_for::<Stream>(),
                "Direction (default `downstream`; `timeout` and `blackhole`: `both`).",
            ),
            Key::Toxicity => json!({
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Share of connections affected (0–1, default 1).",
            }),
            Key::Expect => described(
                g.subschema_for::<WindowExpect>(),
                "What must hold while this fault is on (instead of the scenario-wide `expect`).",
            ),
        }
    }
}

fn described(mut s: Schema, doc: &str) -> Value {
    s.insert("description".into(), doc.into());
    s.to_value()
}
