//! From the parsed command line to the plain inputs `settings` validates,
//! and how the command line spells each setting in messages.

use super::cert::{CertCommand, IssueArgs};
use super::{DoctorArgs, GlobalArgs, OutputFormat, SpecArgs, SpecFormat, TrustArgs};
use crate::formats::spec::Format;
use crate::settings::{
    CertJob, CsrJob, DoctorInput, Field, GlobalInput, IssueInput, IssueSettingsInput,
    MigrateOptions, Origin, Output, RegistryInput, SignJob, SourceInput, WriteSettings,
};

/// The flag that sets `field`, for messages.
pub fn flag_name(field: Field) -> &'static str {
    match field {
        Field::Root => "--root",
        Field::Config => "--config",
        Field::CertsDir => "--certs-dir",
        Field::ContainerdVersion => "--containerd-version",
        Field::ContainerdBin => "--containerd-bin",
        Field::NoValidate => "--no-validate",
        Field::Host => "--host",
        Field::Server => "--server",
        Field::Mirror => "--mirror",
        Field::Ca => "--ca",
        Field::ClientCert => "--client-cert",
        Field::ClientKey => "--client-key",
        Field::SkipVerify => "--skip-verify",
        Field::Capabilities => "--capabilities",
        Field::Header => "--header",
        Field::OverridePath => "--override-path",
        Field::SelfSigned => "--self-signed",
        Field::CaDir => "--ca-dir",
        Field::CertDir => "--cert-dir",
        Field::San => "--san",
        Field::RenewBefore => "--renew-before",
        Field::Renew => "--renew",
        Field::ReplaceTrust => "--replace-trust",
        Field::Migrate => "--migrate",
        Field::AuthToHeader => "--auth-to-header",
        Field::Out => "--out",
        Field::Days => "--days",
        Field::KeyType => "--key-type",
        Field::Name => "--name",
        Field::Dns => "--dns",
        Field::Ip => "--ip",
        Field::Kubernetes => "--kubernetes",
        Field::Signer => "--signer",
        Field::Timeout => "--timeout",
        // Spec-only settings: named by their key.
        Field::DialTimeout => "dial_timeout",
        Field::Auth => "auth",
        Field::Username => "auth.username",
        Field::PasswordFile => "auth.password_file",
        Field::PasswordEnv => "auth.password_env",
    }
}

impl GlobalArgs {
    pub fn input(&self) -> GlobalInput {
        GlobalInput {
            root: self.root.clone(),
            config: self.config.clone(),
            certs_dir: self.certs_dir.clone(),
            containerd_version: self.containerd_version.clone(),
            containerd_bin: self.containerd_bin.clone(),
            no_validate: false,
            output: match self.output {
                OutputFormat::Text => Output::Text,
                OutputFormat::Json => Output::Json,
            },
            write: WriteSettings {
                keep_backups: self.keep_backups,
                lock_timeout: std::time::Duration::from_secs(self.lock_timeout),
            },
        }
    }
}

impl TrustArgs {
    /// The one registry of `--host ...`; none without `--host`.
    pub fn registries(&self) -> Vec<RegistryInput> {
        let Some(host) = &self.host else {
            return Vec::new();
        };
        let issue = (self.self_signed || self.ca_dir.is_some()).then(|| IssueInput {
            ca_dir: self.ca_dir.clone(),
            cert_dir: self.cert_dir.clone(),
            sans: self.san.clone(),
            renew_before: self.renew_before,
            renew: self.renew,
        });
        vec![RegistryInput {
            host: host.clone(),
            server: self.server.clone(),
            mirrors: self.mirror.clone(),
            ca: self.ca.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            skip_verify: self.skip_verify,
            capabilities: self
                .capabilities
                .as_ref()
                .map(|list| list.split(',').map(String::from).collect()),
            headers: self.header.clone(),
            override_path: self.override_path,
            issue: issue.map(Box::new),
            replace_trust: self.replace_trust,
            ..RegistryInput::default()
        }]
    }
}

impl DoctorArgs {
    pub fn input(&self) -> DoctorInput {
        DoctorInput {
            hosts: self.host.clone(),
            connect: self.connect,
            timeout: self.timeout.clone(),
            warn_days: self.warn_days,
            certs: self.certs,
        }
    }
}

impl SpecArgs {
    pub fn input(&self) -> SourceInput {
        SourceInput {
            spec: self.file.clone(),
            format: self.format.map(|f| match f {
                SpecFormat::Toml => Format::Toml,
                SpecFormat::Yaml => Format::Yaml,
                SpecFormat::Json => Format::Json,
            }),
            from_k3s: self.from_k3s.clone(),
            prune: self.prune,
            restart: self.restart,
            restart_command: self.restart_command.clone(),
        }
    }
}

impl TrustArgs {
    /// `--migrate` and its options; `None` without `--migrate`.
    pub fn migrate(&self, origin: &Origin) -> Option<MigrateOptions> {
        self.migrate.then(|| MigrateOptions {
            auth_to_header: self.auth_to_header,
            origin: origin.clone(),
        })
    }
}

impl IssueArgs {
    fn input(&self) -> IssueSettingsInput {
        IssueSettingsInput {
            out: self.out.clone(),
            days: self.days,
            key_type: self.key_type.clone(),
            force: self.force,
        }
    }
}

impl CertCommand {
    pub fn job(&self) -> CertJob {
        match self {
            CertCommand::Ca(a) => CertJob::Ca {
                issue: a.issue.input(),
                name: a.name.clone(),
            },
            CertCommand::Server(a) => CertJob::Server {
                issue: a.issue.input(),
                ca_dir: a.ca_dir.clone(),
                dns: a.dns.clone(),
                ip: a.ip.clone(),
            },
            CertCommand::Client(a) => CertJob::Client {
                issue: a.issue.input(),
                ca_dir: a.ca_dir.clone(),
                name: a.name.clone(),
            },
            CertCommand::Csr(a) => CertJob::Csr(CsrJob {
                out: a.out.clone(),
                dns: a.dns.clone(),
                ip: a.ip.clone(),
                name: a.name.clone(),
                key_type: a.key_type.clone(),
                client: a.client,
                kubernetes: a.kubernetes.clone().zip(a.signer.clone()),
                force: a.force,
            }),
            CertCommand::Sign(a) => CertJob::Sign(SignJob {
                csr: a.csr.clone(),
                ca_dir: a.ca_dir.clone(),
                out: a.out.clone(),
                days: a.days,
                client: a.client,
                force: a.force,
            }),
            CertCommand::Inspect(a) => CertJob::Inspect {
                files: a.files.clone(),
            },
        }
    }
}
