//! The one integration-test binary (`autotests = false` in Cargo.toml keeps
//! link time down): each area is a module.

// Test code states its expectations by panicking; `unwrap` is the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cert;
mod connect;
mod e2e;
mod golden;
mod issuance;
mod layers;
mod migrate;
mod readme;
mod safety;
mod support;
