//! Key types: the names the command line uses, generating a fresh key, loading
//! a private key from PEM in the three forms openssl writes (PKCS#8
//! `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`), and
//! checking that a key belongs to a certificate.
//!
//! Every key certsd generates is written as PKCS#8, the form Go's
//! `tls.X509KeyPair` and containerd read for every key type.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use rcgen::{KeyPair, PublicKeyData, RsaKeySize};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// The key algorithms `--key-type` accepts; the default is ECDSA P-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA on P-256, signed with SHA-256.
    #[default]
    EcdsaP256,
    /// ECDSA on P-384, signed with SHA-384.
    EcdsaP384,
    /// RSA 2048 bits, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072 bits, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
    /// RSA 4096 bits, PKCS#1 v1.5 with SHA-256.
    Rsa4096,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Every key type, in the order the help text lists them.
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::Ed25519,
    ];

    /// The name used on the command line and in `inspect` output.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Whether the key is RSA: RSA leaves also get keyEncipherment.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// Generates a new key of this type.
    pub fn generate(self) -> Result<KeyPair> {
        let generated = match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
            }
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)
            }
            KeyType::Ed25519 => return generate_ed25519(),
        };
        generated.with_context(|| format!("generating a {self} key"))
    }
}

/// rcgen's Ed25519 keys are PKCS#8 v2 (RFC 5958, with the public key), which
/// OpenSSL 3.0 cannot read; write the v1 form every tool reads instead.
fn generate_ed25519() -> Result<KeyPair> {
    let fail = || anyhow!("generating an ed25519 key failed");
    let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(|_| fail())?;
    let v1 = pair.to_pkcs8v1().map_err(|_| fail())?;
    KeyPair::try_from(v1.as_ref()).map_err(|err| anyhow!("loading a new ed25519 key: {err}"))
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<KeyType> {
        KeyType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = KeyType::ALL.iter().map(|t| t.name()).collect();
                anyhow!(
                    "unknown key type {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// Loads the first private key in `pem`: PKCS#8, SEC1 or PKCS#1.
///
/// Other blocks (an `EC PARAMETERS` header, a certificate) are skipped, as
/// openssl and Go do. Encrypted keys are refused with a clear message.
pub fn load_private_key(pem: &str) -> Result<KeyPair> {
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || pem.contains("Proc-Type: 4,ENCRYPTED")
    {
        bail!("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)");
    }
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|err| anyhow!("no PEM private key found ({err})"))?;
    KeyPair::try_from(&der).map_err(|err| {
        anyhow!("the private key is not a supported ECDSA P-256/P-384, RSA or Ed25519 key ({err})")
    })
}

/// Whether `key` holds the private half of the public key `spki_key_bits`
/// (the subjectPublicKey BIT STRING contents of a certificate).
pub fn matches_public_key(key: &KeyPair, spki_key_bits: &[u8]) -> bool {
    key.der_bytes() == spki_key_bits
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn key_type_names_round_trip() {
        for t in KeyType::ALL {
            assert_eq!(t.name().parse::<KeyType>().unwrap(), t);
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!("ECDSA-P256".parse::<KeyType>().unwrap(), KeyType::EcdsaP256);
        assert_eq!(KeyType::default(), KeyType::EcdsaP256);
    }

    #[test]
    fn unknown_key_type_names_the_choices() {
        let err = "dsa-1024".parse::<KeyType>().unwrap_err().to_string();
        assert!(err.contains("dsa-1024"), "{err}");
        assert!(
            err.contains("ecdsa-p256") && err.contains("ed25519"),
            "{err}"
        );
        assert!("".parse::<KeyType>().is_err());
    }

    #[test]
    fn generated_keys_are_pkcs8_and_reload() {
        for t in [
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Ed25519,
            KeyType::Rsa2048,
        ] {
            let key = t.generate().unwrap();
            let pem = key.serialize_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{t}");
            // PKCS#8 v1 (version 0), which OpenSSL 3.0 reads for every key type.
            let der = key.serialized_der();
            let header = 2 + usize::from(der[1] & 0x80 != 0) * usize::from(der[1] & 0x7f);
            assert_eq!(&der[header..header + 3], &[0x02, 0x01, 0x00], "{t}");
            let back = load_private_key(&pem).unwrap();
            assert_eq!(back.der_bytes(), key.der_bytes(), "{t}");
        }
    }

    #[test]
    fn garbage_and_encrypted_keys_are_refused() {
        let err = load_private_key("not a key").unwrap_err().to_string();
        assert!(err.contains("no PEM private key"), "{err}");
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = load_private_key(enc).unwrap_err().to_string();
        assert!(err.contains("encrypted"), "{err}");
        let bad = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(load_private_key(bad).is_err());
    }

    /// Runs openssl to make a key in its own format; the tests need openssl installed.
    fn openssl_key(args: &[&str]) -> String {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn loads_the_three_forms_openssl_writes() {
        let pkcs1 = openssl_key(&["genrsa", "-traditional", "2048"]);
        assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"));
        let sec1 = openssl_key(&["ecparam", "-genkey", "-name", "prime256v1"]);
        assert!(sec1.contains("BEGIN EC PARAMETERS") && sec1.contains("BEGIN EC PRIVATE KEY"));
        let sec1_384 = openssl_key(&["ecparam", "-genkey", "-name", "secp384r1", "-noout"]);
        let pkcs8 = openssl_key(&["genpkey", "-algorithm", "ed25519"]);
        assert!(pkcs8.contains("BEGIN PRIVATE KEY"));
        let expected = [
            (pkcs1, &rcgen::PKCS_RSA_SHA256),
            (sec1, &rcgen::PKCS_ECDSA_P256_SHA256),
            (sec1_384, &rcgen::PKCS_ECDSA_P384_SHA384),
            (pkcs8, &rcgen::PKCS_ED25519),
        ];
        for (pem, alg) in expected {
            let key = load_private_key(&pem).unwrap();
            assert_eq!(key.algorithm(), alg, "{pem}");
        }
    }
}
