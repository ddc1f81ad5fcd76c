//! The pure core: the plan (a leaf data type), the planner that computes it
//! from the node snapshot, the migration of legacy registry tables, and the
//! certificates it decides to issue.

pub mod history;
pub mod issuance;
pub mod migrate;
pub mod ownership;
pub mod plan;
pub mod planner;
pub mod rollback;
pub mod rules;
