//! Integration tests of the Flux-Gate services against real Redis, PostgreSQL and tansu.
//! One binary (so the heavy dependencies link once); one module per capability.

mod faults;
mod flash_sale;
mod http_contract;
mod kafka_epoch_bump;
mod probe;
mod redis_ha;
mod stack;
mod wait;
mod waiting_room;
mod worker_and_reconcile;
