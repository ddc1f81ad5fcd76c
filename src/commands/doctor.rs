//! `certsd doctor`: read the node, examine it, print the findings. Never
//! writes: it takes no lock and never reaches the writer.

use std::io;

use anyhow::Result;

use super::trust::shown;
use crate::doctor::{self, Scene};
use crate::exit_codes::Code;
use crate::node::Node;
use crate::render;
use crate::settings::{DoctorSettings, Settings};

/// Runs doctor; exit 1 when any finding is an error.
pub fn run(settings: &Settings, doctor: &DoctorSettings) -> Result<Code> {
    let target = settings.target();
    // A config that cannot be read is a finding, not the end of the run.
    let node = Node::read(
        settings.root.clone(),
        settings.config.clone(),
        target.clone(),
    );
    let scene = Scene {
        root: &settings.root,
        config_path: &settings.config,
        node: node.as_ref(),
        target: target.as_ref(),
        certs_dir: settings.certs_dir.as_ref(),
    };
    let report = doctor::run(&scene, doctor);
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    shown(render::doctor::print(
        &report,
        doctor.certs,
        settings.output,
        &mut out,
        &mut err,
    ))?;
    Ok(if report.errors() > 0 {
        Code::Failure
    } else {
        Code::Success
    })
}
