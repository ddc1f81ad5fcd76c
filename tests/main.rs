//! The one integration-test binary.
#![allow(clippy::unwrap_used)] // a panic is how a test fails

mod cert;
