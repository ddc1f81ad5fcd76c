//! `certsd doctor`: say why a node cannot pull. So far only the `--connect`
//! diagnosis lives here ([`connect`]): one TLS handshake per endpoint with the
//! trust containerd would use, judged separately against each trust source.

pub mod connect;
