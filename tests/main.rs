//! The one integration-test binary.

mod e2e;
