//! `doctor::connect::probe` against real servers on 127.0.0.1: openssl's
//! `s_server` (an independent TLS implementation) for the TLS verdicts, tiny
//! std listeners for plain HTTP and silence. Certificates come from the
//! built `certsd cert` (the ones a user would deploy) and, where a test needs
//! what certsd refuses to make (past dates), from rcgen directly.

mod loopback;
pub mod servers;
mod verdicts;
