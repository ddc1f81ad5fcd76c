//! PEM blocks found in one pass over the bytes.
//!
//! `x509_parser`'s reader allocates a string per line and seeks a cursor;
//! a fleet's rerun reads a CA file per registry, where that cost shows.
//! This splitter reads the blocks as that reader does (a line starting
//! `-----BEGIN ` opens one, its label up to the first `-`, a line starting
//! `-----END ` closes it, each line in between trimmed at its end, the
//! whole standard Base64) and gives up on anything less than clean: text
//! that is not UTF-8, a broken header, a block that never ends, Base64 that
//! does not decode. The caller then asks `x509_parser`, whose answer and
//! error messages stay the reference; a property test holds the two to the
//! same blocks wherever this one answers.

use base64::Engine as _;
use x509_parser::pem::Pem;

/// Every block of a clean PEM text; `None` for anything else.
pub(super) fn blocks(bytes: &[u8]) -> Option<Vec<Pem>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.split_inclusive('\n');
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if !line.starts_with("-----BEGIN ") {
            continue;
        }
        let mut parts = line.split("-----");
        parts.next();
        let label = parts.next()?.strip_prefix("BEGIN ")?;
        parts.next()?;
        let label = label.split('-').next()?;
        let mut body = String::with_capacity(text.len());
        loop {
            let line = lines.next()?;
            if line.starts_with("-----END ") {
                break;
            }
            body.push_str(line.trim_end());
        }
        let contents = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()?;
        out.push(Pem {
            label: label.to_string(),
            contents,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CA: &str = include_str!("../../../testdata/pki/ca.crt");

    fn reference(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        Pem::iter_from_buffer(bytes)
            .map(|b| b.map(|b| (b.label, b.contents)).map_err(|e| e.to_string()))
            .collect()
    }

    fn ours(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
        blocks(bytes).map(|v| v.into_iter().map(|b| (b.label, b.contents)).collect())
    }

    /// A CA file with some bytes replaced, inserted or cut: every kind of
    /// damage a PEM file meets (and the clean file itself).
    fn damaged() -> impl Strategy<Value = Vec<u8>> {
        let edit = (
            any::<prop::sample::Index>(),
            0..4u8,
            any::<u8>(),
            prop::sample::select(b"-=\n\r \tAB/+#\xff".to_vec()),
        );
        prop::collection::vec(edit, 0..4).prop_map(|edits| {
            let mut bytes = format!("# a comment\n{CA}{CA}trailing\n").into_bytes();
            for (at, op, raw, pick) in edits {
                // A cut at 0 leaves nothing to index: the edits end there.
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                let byte = if raw % 2 == 0 { pick } else { raw };
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    2 => {
                        bytes.remove(i);
                    }
                    _ => bytes.truncate(i),
                }
            }
            bytes
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Wherever the splitter answers, `x509_parser` finds the same blocks.
        #[test]
        fn the_splitter_agrees_with_x509_parser(bytes in damaged()) {
            if let Some(found) = ours(&bytes) {
                prop_assert_eq!(Ok(found), reference(&bytes));
            }
        }
    }

    #[test]
    fn clean_files_are_split_and_others_left_to_x509_parser() {
        let two = format!("{CA}{CA}");
        let found = ours(two.as_bytes()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(Ok(found), reference(two.as_bytes()));
        assert_eq!(ours(b"no pem here\n"), Some(Vec::new()));
        assert_eq!(ours(b"-----BEGIN CERTIFICATE-----\nAAAA\n"), None);
        assert_eq!(
            ours(b"-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"),
            None
        );
        assert_eq!(ours(b"\xff\n"), None);
    }
}
