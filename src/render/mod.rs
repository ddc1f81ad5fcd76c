//! What a run shows: the unified diff of a plan, and the text and JSON reports.

pub mod ansible;
pub mod diff;
pub mod doctor;
pub mod report;
