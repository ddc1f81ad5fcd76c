//! The one integration-test binary (`autotests = false` in Cargo.toml keeps
//! link time down): each area is a module.

mod golden;
