//! The data promises: no oversell, no lost acknowledged order, no phantom, no duplicate,
//! conservation of stock, Redis and the database agreeing, and the per-user limit.

use std::collections::{BTreeMap, BTreeSet};

use super::{Basis, Checker, Evidence, Finding, Status};
use crate::load::{Op, Outcome};
use crate::model::{min_stock, DbOrder};
use crate::verdict::stall::Stall;

fn ms(us: u64) -> String {
    format!("{:.1}s", us as f64 / 1e6)
}

fn describe(op: &Op) -> String {
    format!(
        "seq {} at {}: {}{}",
        op.seq,
        ms(op.intended_us),
        op.http
            .map_or_else(|| op.error.clone().unwrap_or_default(), |c| c.to_string()),
        op.answer
            .as_ref()
            .map(|a| format!(" {a}"))
            .unwrap_or_default()
    )
}

fn rows_by_key(rows: &[DbOrder]) -> BTreeMap<&str, Vec<&DbOrder>> {
    let mut m: BTreeMap<&str, Vec<&DbOrder>> = BTreeMap::new();
    for r in rows {
        m.entry(r.key.as_str()).or_default().push(r);
    }
    m
}

pub struct NoOversell;
impl Checker for NoOversell {
    fn name(&self) -> &'static str {
        "no_oversell"
    }
    fn basis(&self) -> Basis {
        Basis::AnyState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let s = &e.settled.state;
        let orders = s.db_orders.len() as i64;
        let mut bad = Vec::new();
        if orders > s.initial {
            bad.push(format!(
                "{orders} orders in the database for {} units",
                s.initial
            ));
        }
        // Every sample below zero is a counterexample, with when it was seen.
        bad.extend(
            e.samples
                .iter()
                .filter(|x| x.stock.is_some_and(|v| v < 0))
                .map(|x| {
                    format!(
                        "Redis stock {} at {:.1}s",
                        x.stock.unwrap_or_default(),
                        x.at_ms as f64 / 1000.0
                    )
                }),
        );
        if let Some(min) = s.redis_stock_min.filter(|m| *m < 0) {
            bad.push(format!("Redis stock read as {min} while settling"));
        }
        if let Some(db) = s.db_stock.filter(|d| *d < 0) {
            bad.push(format!("products.stock is {db}"));
        }
        let lowest = [min_stock(e.samples), s.redis_stock_min]
            .into_iter()
            .flatten()
            .min();
        let seen = if e.samples.is_empty() {
            format!("{} settle reads, no samples", e.settled.trace.len())
        } else {
            let (every, missed) = e.sampling.map_or((String::new(), 0), |sm| {
                (format!(" every {} ms", sm.every_ms), sm.missed)
            });
            format!(
                "{} samples{every}{} and {} settle reads",
                e.samples.len(),
                if missed > 0 {
                    format!(" ({missed} missed while Redis did not answer)")
                } else {
                    String::new()
                },
                e.settled.trace.len()
            )
        };
        Finding::from_counterexamples(
            self.name(),
            format!(
                "{orders} orders ≤ {} units; Redis stock never below 0 (lowest {} in {seen})",
                s.initial,
                lowest.map_or_else(|| "—".to_owned(), |v| v.to_string())
            ),
            "more sold than there was",
            bad,
        )
    }
}

pub struct NoLostAcks;
impl Checker for NoLostAcks {
    fn name(&self) -> &'static str {
        "no_lost_acks"
    }
    fn basis(&self) -> Basis {
        Basis::QuietState
    }
    /// Acknowledged orders still missing when the pipeline had stopped moving are lost as far
    /// as any buyer can tell: each is a counterexample.
    fn check_stuck(&self, e: &Evidence<'_>, stall: &Stall) -> Option<Finding> {
        let rows = rows_by_key(&e.settled.state.db_orders);
        let stopped = format!(
            "progress stopped at {} ({})",
            ms(stall.since_ms * 1000),
            stall.at.describe()
        );
        let bad: Vec<String> = e
            .ops
            .iter()
            .filter(|o| o.outcome == Outcome::Ok && !rows.contains_key(o.key.as_str()))
            .map(|op| {
                format!(
                    "key {} ({}): acknowledged, not persisted within the settle timeout; {stopped}",
                    op.key,
                    describe(op)
                )
            })
            .collect();
        (!bad.is_empty()).then(|| {
            Finding::from_counterexamples(
                self.name(),
                "",
                format!(
                    "{} acknowledged order(s) never persisted: {} stopped",
                    bad.len(),
                    stall
                        .components
                        .iter()
                        .map(|c| c.describe())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                bad,
            )
        })
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let rows = rows_by_key(&e.settled.state.db_orders);
        let mut acked = 0;
        let mut bad = Vec::new();
        for op in e.ops.iter().filter(|o| o.outcome == Outcome::Ok) {
            acked += 1;
            match (rows.get(op.key.as_str()), &op.order_id) {
                (None, _) => bad.push(format!(
                    "key {} ({}) orderId {}: no row",
                    op.key,
                    describe(op),
                    op.order_id.as_deref().unwrap_or("?")
                )),
                (Some(r), Some(id)) if !r.iter().any(|r| &r.order_id == id) => bad.push(format!(
                    "key {} ({}): acknowledged orderId {id}, the row holds {}",
                    op.key,
                    describe(op),
                    r[0].order_id
                )),
                _ => {}
            }
        }
        Finding::from_counterexamples(
            self.name(),
            format!("all {acked} acknowledged answers have their row"),
            "acknowledged orders are missing from the database",
            bad,
        )
    }
}

pub struct NoPhantoms;
impl Checker for NoPhantoms {
    fn name(&self) -> &'static str {
        "no_phantoms"
    }
    fn basis(&self) -> Basis {
        Basis::AnyState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let invoked: BTreeSet<&str> = e.ops.iter().map(|o| o.key.as_str()).collect();
        let acked: BTreeSet<&str> = e
            .ops
            .iter()
            .filter(|o| o.outcome == Outcome::Ok)
            .map(|o| o.key.as_str())
            .collect();
        let info: BTreeSet<&str> = e
            .ops
            .iter()
            .filter(|o| o.outcome == Outcome::Info)
            .map(|o| o.key.as_str())
            .collect();
        let mut bad = Vec::new();
        let mut recovered = 0;
        for r in &e.settled.state.db_orders {
            if !invoked.contains(r.key.as_str()) {
                bad.push(format!(
                    "row {} with key {}: never sent in this run",
                    r.order_id, r.key
                ));
            } else if !acked.contains(r.key.as_str()) {
                if info.contains(r.key.as_str()) {
                    // An indeterminate attempt that did happen: allowed, and reported.
                    recovered += 1;
                } else {
                    let op = e.ops.iter().find(|o| o.key == r.key);
                    bad.push(format!(
                        "row {} with key {}: every answer was a definite no ({})",
                        r.order_id,
                        r.key,
                        op.map(describe).unwrap_or_default()
                    ));
                }
            }
        }
        Finding::from_counterexamples(
            self.name(),
            format!(
                "every row was sent in this run and none contradicts a definite no ({recovered} indeterminate attempt(s) turned out to have happened)"
            ),
            "rows the run never asked for, or that it was told were refused",
            bad,
        )
    }
}

pub struct NoDuplicates;
impl Checker for NoDuplicates {
    fn name(&self) -> &'static str {
        "no_duplicates"
    }
    fn basis(&self) -> Basis {
        Basis::AnyState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let mut bad = Vec::new();
        for (key, rows) in rows_by_key(&e.settled.state.db_orders) {
            if rows.len() > 1 {
                bad.push(format!("key {key}: {} rows", rows.len()));
            }
        }
        let mut answers: BTreeMap<&str, (BTreeSet<&str>, bool)> = BTreeMap::new();
        for op in e.ops {
            let a = answers.entry(op.key.as_str()).or_default();
            if let Some(id) = &op.order_id {
                a.0.insert(id.as_str());
            }
            if op.outcome == Outcome::Fail && matches!(op.http, Some(409) | Some(429)) {
                a.1 = true;
            }
        }
        let keys = answers.len();
        for (key, (ids, refused)) in answers {
            if ids.len() > 1 {
                bad.push(format!(
                    "key {key}: answered with {} different orderIds ({})",
                    ids.len(),
                    ids.into_iter().collect::<Vec<_>>().join(", ")
                ));
            } else if refused && !ids.is_empty() {
                bad.push(format!(
                    "key {key}: answered both with an orderId and with a refusal"
                ));
            }
        }
        Finding::from_counterexamples(
            self.name(),
            format!("one row per key and one answer per key across {keys} keys"),
            "one idempotency key, several outcomes",
            bad,
        )
    }
}

pub struct StockConserved;
impl Checker for StockConserved {
    fn name(&self) -> &'static str {
        "stock_conserved"
    }
    fn basis(&self) -> Basis {
        Basis::QuietState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let s = &e.settled.state;
        let orders = s.db_orders.len() as i64;
        let Some(redis) = s.redis_stock else {
            return Finding::from_counterexamples(
                self.name(),
                "",
                "Redis lost the sale",
                vec!["no stock key in Redis".into()],
            );
        };
        let total = redis + orders + s.outbox as i64;
        let bad = if total == s.initial {
            Vec::new()
        } else {
            vec![format!(
                "initial {} ≠ Redis {redis} + database {orders} + outbox {} = {total} (drift {})",
                s.initial,
                s.outbox,
                total - s.initial
            )]
        };
        Finding::from_counterexamples(
            self.name(),
            format!(
                "initial {} = Redis {redis} + database {orders} + outbox {}",
                s.initial, s.outbox
            ),
            "units appeared or vanished",
            bad,
        )
    }
}

pub struct DbMatchesRedis;
impl Checker for DbMatchesRedis {
    fn name(&self) -> &'static str {
        "db_matches_redis"
    }
    fn basis(&self) -> Basis {
        Basis::QuietState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let s = &e.settled.state;
        let expected = s.initial - s.db_orders.len() as i64;
        let mut bad = Vec::new();
        match s.db_stock {
            Some(d) if d != expected => bad.push(format!(
                "products.stock {d} ≠ initial − orders = {expected}"
            )),
            None => bad.push("no products row".into()),
            _ => {}
        }
        match s.redis_stock {
            Some(r) if r != expected => {
                bad.push(format!("Redis stock {r} ≠ initial − orders = {expected}"))
            }
            None => bad.push("no stock key in Redis".into()),
            _ => {}
        }
        Finding::from_counterexamples(
            self.name(),
            format!("products.stock = Redis stock = {expected}"),
            "Redis and the database disagree",
            bad,
        )
    }
}

pub struct PerUserLimit;
impl Checker for PerUserLimit {
    fn name(&self) -> &'static str {
        "per_user_limit"
    }
    fn basis(&self) -> Basis {
        Basis::AnyState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let Some(limit) = e.per_user_limit else {
            return Finding::with(
                self.name(),
                Status::Skipped,
                "the sale has no per-user limit",
            );
        };
        let per_user = e.settled.state.orders_per_user();
        let users = per_user.len();
        let bad = per_user
            .into_iter()
            .filter(|(_, n)| *n > limit as usize)
            .map(|(u, n)| format!("user {u}: {n} orders (limit {limit})"))
            .collect();
        Finding::from_counterexamples(
            self.name(),
            format!("{users} buyers, none above {limit}"),
            "buyers above the per-user limit",
            bad,
        )
    }
}
