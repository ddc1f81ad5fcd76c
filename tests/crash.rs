//! Crash sweeps: certsd is killed (SIGKILL) at every write-related system
//! call of each command that writes (strace fault injection), and at random
//! moments; after each kill the tree holds whole files only and no
//! hosts.toml names a missing file, and the next run converges to the tree
//! an uninterrupted run makes, with no temporary file or journal left.
//! Prints `crash: N points, 0 torn, 0 stuck, 0 stray`.
//!
//! A new way of writing (`apply -f SPEC`, issue 9) joins the sweep by
//! adding a [`Scenario`] to [`scenarios`].

mod check;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{certsd, ok};

/// One command under test: how to prepare its tree, and its arguments
/// (`{root}` and `{pki}` are replaced).
pub struct Scenario {
    pub name: &'static str,
    pub prepare: fn(&Path, &Path),
    pub args: &'static [&'static str],
}

const CONFIG_V2: &str = "# node config: keep this comment\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\" # pinned\n";

fn with_config(root: &Path, _: &Path) {
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    fs::write(root.join("etc/containerd/config.toml"), CONFIG_V2).unwrap();
}

fn nothing(_: &Path, _: &Path) {}

/// A CA pair (and its history entry) in `{root}/out`, for `cert ca --force`.
fn ca_in_out(root: &Path, _: &Path) {
    ok(
        &certsd()
            .args(["cert", "ca", "--out"])
            .arg(root.join("out"))
            .output()
            .unwrap(),
        "preparing a CA to replace",
    );
}

fn self_signed_tree(root: &Path, pki: &Path) {
    with_config(root, pki);
    let args = expand(SELF_SIGNED, root, pki);
    ok(
        &certsd().args(&args).output().unwrap(),
        "preparing a self-signed tree",
    );
}

/// A node where one apply (mirror, CA, client pair, config.toml edited)
/// is recorded in the history, for the rollback scenario.
fn applied_tree(root: &Path, pki: &Path) {
    with_config(root, pki);
    let args = expand(APPLY, root, pki);
    ok(
        &certsd().args(&args).output().unwrap(),
        "preparing an applied tree",
    );
}

const APPLY: &[&str] = &[
    "--root",
    "{root}",
    "apply",
    "--containerd-version",
    "1.7.24",
    "--host",
    "reg.example.com:5000",
    "--mirror",
    "https://m1.example.com",
    "--ca",
    "{pki}/ca.crt",
    "--client-cert",
    "{pki}/client.crt",
    "--client-key",
    "{pki}/client.key",
];

const SELF_SIGNED: &[&str] = &[
    "--root",
    "{root}",
    "apply",
    "--containerd-version",
    "1.7.24",
    "--host",
    "reg.example.com:5000",
    "--self-signed",
];

/// Every command that writes, on a tree that makes it write several files.
#[allow(
    clippy::too_many_lines,
    reason = "a table of data, one entry per command"
)]
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "apply --host (mirror, ca, client pair, config.toml with backup)",
            prepare: with_config,
            args: APPLY,
        },
        Scenario {
            // Deletes, a config.toml restored from its backup, directories
            // removed, the history entry marked: one group.
            name: "rollback (of that apply)",
            prepare: applied_tree,
            args: &["--root", "{root}", "rollback"],
        },
        Scenario {
            name: "apply --self-signed (fresh node)",
            prepare: nothing,
            args: SELF_SIGNED,
        },
        Scenario {
            name: "apply --self-signed --renew",
            prepare: self_signed_tree,
            args: &[
                "--root",
                "{root}",
                "apply",
                "--containerd-version",
                "1.7.24",
                "--host",
                "reg.example.com:5000",
                "--self-signed",
                "--renew",
            ],
        },
        Scenario {
            name: "cert ca",
            prepare: nothing,
            args: &["cert", "ca", "--out", "{root}/out"],
        },
        Scenario {
            // Replaces a pair: the history's copies (the key's 0600) are in the group.
            name: "cert ca --force",
            prepare: ca_in_out,
            args: &["cert", "ca", "--out", "{root}/out", "--force"],
        },
        Scenario {
            name: "cert server",
            prepare: nothing,
            args: &[
                "cert",
                "server",
                "--ca-dir",
                "{pki}",
                "--dns",
                "r.example.com",
                "--out",
                "{root}/out",
            ],
        },
        Scenario {
            name: "cert client",
            prepare: nothing,
            args: &[
                "cert",
                "client",
                "--ca-dir",
                "{pki}",
                "--name",
                "node1",
                "--out",
                "{root}/out",
            ],
        },
        Scenario {
            name: "cert csr",
            prepare: nothing,
            args: &[
                "cert",
                "csr",
                "--dns",
                "r.example.com",
                "--out",
                "{root}/out",
            ],
        },
        Scenario {
            name: "cert sign",
            prepare: nothing,
            args: &[
                "cert",
                "sign",
                "--csr",
                "{pki}/req/server.csr",
                "--ca-dir",
                "{pki}",
                "--out",
                "{root}/out",
            ],
        },
    ]
}

fn expand(args: &[&str], root: &Path, pki: &Path) -> Vec<String> {
    args.iter()
        .map(|a| {
            a.replace("{root}", &root.to_string_lossy())
                .replace("{pki}", &pki.to_string_lossy())
        })
        .collect()
}

/// A CA, a client pair and a CSR, made by certsd itself.
pub fn make_pki(pki: &Path) {
    let p = pki.to_string_lossy();
    for args in [
        vec!["cert", "ca", "--out", &p],
        vec![
            "cert", "client", "--ca-dir", &p, "--name", "node", "--out", &p,
        ],
    ] {
        ok(
            &certsd().args(&args).output().unwrap(),
            "making the test PKI",
        );
    }
    let req = pki.join("req");
    ok(
        &certsd()
            .args(["cert", "csr", "--dns", "r.example.com", "--out"])
            .arg(&req)
            .output()
            .unwrap(),
        "making a CSR",
    );
}

/// Tallies of one sweep.
#[derive(Default)]
pub struct Tally {
    pub points: usize,
    pub torn: Vec<String>,
    pub stuck: Vec<String>,
    pub stray: Vec<String>,
}

impl Tally {
    pub fn line(&self) -> String {
        format!(
            "crash: {} points, {} torn, {} stuck, {} stray",
            self.points,
            self.torn.len(),
            self.stuck.len(),
            self.stray.len()
        )
    }
}

struct Case<'a> {
    scenario: &'a Scenario,
    pki: &'a Path,
    reference: std::collections::BTreeMap<String, u32>,
}

impl Case<'_> {
    fn fresh(&self, base: &Path) -> PathBuf {
        let root = base.join("root");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        (self.scenario.prepare)(&root, self.pki);
        root
    }

    fn args(&self, root: &Path) -> Vec<String> {
        expand(self.scenario.args, root, self.pki)
    }

    /// After a kill: check, run again, check that it converged.
    fn judge(&self, root: &Path, point: &str, tally: &mut Tally) {
        tally.points += 1;
        for t in check::torn(root) {
            tally.torn.push(format!("{point}: {t}"));
        }
        let again = certsd().args(self.args(root)).output().unwrap();
        let stderr = String::from_utf8_lossy(&again.stderr);
        let refused_as_done = stderr.contains("already exists (use --force");
        if !again.status.success() && !refused_as_done {
            tally
                .stuck
                .push(format!("{point}: the next run failed: {stderr}"));
            return;
        }
        let mut problems = check::mismatched_pairs(root);
        let shape = check::shape(root);
        if shape != self.reference {
            problems.push(format!("tree {shape:?} is not {:?}", self.reference));
        }
        if self.args(root).iter().any(|a| a == "apply") {
            let mut plan: Vec<String> = self.args(root);
            let at = plan.iter().position(|a| a == "apply").unwrap();
            plan[at] = "plan".into();
            plan.retain(|a| a != "--renew");
            plan.push("--detailed-exitcode".into());
            let code = certsd().args(&plan).output().unwrap().status.code();
            if code != Some(0) {
                problems.push(format!("plan after the repair exits {code:?}"));
            }
        }
        tally
            .stuck
            .extend(problems.into_iter().map(|p| format!("{point}: {p}")));
        tally.stray.extend(
            check::strays(root)
                .into_iter()
                .map(|s| format!("{point}: {s}")),
        );
    }
}

/// The write-related calls certsd makes (and `openat`, which creates files).
const SYSCALLS: &[&str] = &[
    "mkdir", "openat", "write", "fchmod", "fchown", "fsync", "syncfs", "rename", "unlink", "flock",
];

/// How many of the last `openat` calls are swept.
const OPENAT_TAIL: usize = 16;

/// How often `certsd ARGS` makes each call, counted with strace.
fn counts(args: &[String], base: &Path) -> Vec<(&'static str, usize)> {
    let log = base.join("strace.log");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(format!("-etrace={}", SYSCALLS.join(",")))
        .arg(env!("CARGO_BIN_EXE_certsd"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace runs (tests/e2e/setup.sh installs it)");
    assert!(status.success(), "an uninterrupted run under strace failed");
    let text = fs::read_to_string(&log).unwrap();
    SYSCALLS
        .iter()
        .map(|s| {
            let needle = format!(" {s}(");
            (*s, text.lines().filter(|l| l.contains(&needle)).count())
        })
        .collect()
}

fn sweep_one(scenario: &Scenario, pki: &Path, tally: &mut Tally) {
    let tmp = tempfile::tempdir().unwrap();
    let mut case = Case {
        scenario,
        pki,
        reference: std::collections::BTreeMap::default(),
    };
    let root = case.fresh(tmp.path());
    ok(
        &certsd().args(case.args(&root)).output().unwrap(),
        scenario.name,
    );
    case.reference = check::shape(&root);
    let root = case.fresh(tmp.path());
    let calls = counts(&case.args(&root), tmp.path());
    for (syscall, n) in calls {
        // Most opens read libraries and inputs before anything is written:
        // the last ones (temporary files, the journal) are the ones that count.
        let first = if syscall == "openat" {
            n.saturating_sub(OPENAT_TAIL) + 1
        } else {
            1
        };
        for when in first..=n {
            let root = case.fresh(tmp.path());
            let _ = Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null"])
                .arg(format!("-etrace={syscall}"))
                .arg(format!("-einject={syscall}:signal=KILL:when={when}"))
                .arg(env!("CARGO_BIN_EXE_certsd"))
                .args(case.args(&root))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            case.judge(
                &root,
                &format!("{} / {syscall} #{when}", scenario.name),
                tally,
            );
        }
    }
}

/// Kills at random moments: bounded by count and by time.
fn random_kills(scenarios: &[Scenario], pki: &Path, budget: Duration, tally: &mut Tally) -> usize {
    let start = Instant::now();
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    println!("crash: random kills, seed {seed}");
    let mut done = 0;
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<Case<'_>> = scenarios
        .iter()
        .map(|s| {
            let mut c = Case {
                scenario: s,
                pki,
                reference: std::collections::BTreeMap::default(),
            };
            let root = c.fresh(tmp.path());
            ok(&certsd().args(c.args(&root)).output().unwrap(), s.name);
            c.reference = check::shape(&root);
            c
        })
        .collect();
    while done < 200 && start.elapsed() < budget {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let case = &cases[(seed >> 33) as usize % cases.len()];
        let delay = Duration::from_micros((seed >> 20) % 30_000);
        let root = case.fresh(tmp.path());
        let mut child = certsd()
            .args(case.args(&root))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        case.judge(
            &root,
            &format!("{} / after {delay:?}", case.scenario.name),
            tally,
        );
        done += 1;
    }
    done
}

#[test]
fn a_kill_at_any_moment_leaves_a_tree_the_next_run_repairs() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = pki_dir.path().join("pki");
    make_pki(&pki);
    let scenarios = scenarios();
    let mut tally = Tally::default();
    let only = std::env::var("CERTSD_CRASH_ONLY").unwrap_or_default();
    let chosen: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| s.name.contains(&only))
        .collect();
    // Two workers: the machine has two cores, and each point is mostly waiting on processes.
    let halves: Vec<Tally> = std::thread::scope(|scope| {
        let workers: Vec<_> = chosen
            .chunks(chosen.len().div_ceil(2).max(1))
            .map(|part| {
                let pki = &pki;
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    for scenario in part {
                        let before = tally.points;
                        sweep_one(scenario, pki, &mut tally);
                        println!(
                            "crash: {}: {} strace points",
                            scenario.name,
                            tally.points - before
                        );
                    }
                    tally
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for half in halves {
        tally.points += half.points;
        tally.torn.extend(half.torn);
        tally.stuck.extend(half.stuck);
        tally.stray.extend(half.stray);
    }
    let random = random_kills(
        &scenarios,
        &pki,
        Duration::from_secs(if only.is_empty() { 25 } else { 2 }),
        &mut tally,
    );
    println!("crash: {random} random-delay kills");
    println!("{}", tally.line());
    let all: Vec<&String> = tally
        .torn
        .iter()
        .chain(&tally.stuck)
        .chain(&tally.stray)
        .collect();
    assert!(
        all.is_empty(),
        "{}\n{}",
        tally.line(),
        all.iter()
            .take(20)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
