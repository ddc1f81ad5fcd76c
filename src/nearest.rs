//! "Did you mean ...?": the known name closest to a mistyped one, for the
//! spec's unknown keys and doctor's unknown hosts.toml keys alike.

/// The known key closest to `key`, if it is close enough to be a typo.
pub fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (distance(&key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let old = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = old;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_what_they_meant() {
        let known = ["host", "skip_verify", "ca", "client_cert", "client_key"];
        assert_eq!(nearest("skip_verfy", &known), Some("skip_verify"));
        assert_eq!(nearest("skip-verify", &known), Some("skip_verify"));
        assert_eq!(nearest("hots", &known), Some("host"));
        assert_eq!(nearest("client_kye", &known), Some("client_key"));
        assert_eq!(nearest("completely_else", &known), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "ca"), 2);
    }
}
