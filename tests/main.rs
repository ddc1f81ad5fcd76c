//! The one integration-test binary (`autotests = false` in Cargo.toml keeps
//! link time down): each area is a module.

// Test code states its expectations by panicking; `unwrap` is the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ansible;
mod cert;
mod cert_rollback;
mod concurrency;
mod connect;
mod crash;
mod doctor;
mod e2e;
mod faults;
mod golden;
mod hostile;
mod issuance;
mod layers;
mod migrate;
mod planfile;
mod props;
mod readme;
mod rollback;
mod safety;
mod spec;
mod support;
mod validate;
