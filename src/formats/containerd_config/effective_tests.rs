//! Unit tests for the effective registry table: which table each containerd
//! takes `config_path` from, and that the edit lands there and nowhere else.
//! The expectations were checked with `containerd config dump` of 1.7.24 and
//! 2.1.9 on the same texts.

use std::path::Path;

use super::super::{ContainerdConfig, RegistryTable};
use crate::version::ContainerdVersion;

const V1: &str = "[plugins.cri]\n  sandbox_image = \"p:1\"\n";
const V1_CRI: &str = "[plugins.cri.registry]\n  config_path = \"/v1\"\n";
const V1_GRPC: &str = "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/g\"\n";
const V1_IMAGES: &str =
    "[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"\"\n";
const V2: &str =
    "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"p:1\"\n";
const V2_GRPC: &str =
    "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/g\"\n";
/// A version 2 file in 2.x plugin names, as cloud node templates write them.
const V2_IMAGES: &str = "version = 2\n[plugins.\"io.containerd.cri.v1.images\"]\n  [plugins.\"io.containerd.cri.v1.images\".registry]\n    config_path = \"\"\n  [plugins.\"io.containerd.cri.v1.images\".registry.headers]\n    X-Pool = [\"blue\"]\n";
const V2_IMAGES_PLUGIN: &str =
    "version = 2\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"p:1\"\n";
const V3: &str =
    "version = 3\n[plugins.'io.containerd.grpc.v1.cri'.registry]\n  config_path = '/g'\n";

fn parse(text: &str) -> ContainerdConfig {
    ContainerdConfig::parse(Path::new("/etc/containerd/config.toml"), text.as_bytes()).unwrap()
}

fn v(s: &str) -> ContainerdVersion {
    s.parse().unwrap()
}

fn table(text: &str, target: Option<ContainerdVersion>) -> RegistryTable {
    parse(text).effective(target).unwrap().table
}

#[test]
fn each_containerd_reads_its_own_table() {
    use RegistryTable::{Cri, Grpc, Images};
    let v1_both = format!("{V1}{V1_CRI}{V1_GRPC}");
    let v2_both = format!("{V2_IMAGES}{}", V2_GRPC.trim_start_matches("version = 2\n"));
    let cases: [(&str, &str, Option<ContainerdVersion>, RegistryTable); 12] = [
        ("v1 on 1.7", V1, Some(v("1.7.24")), Cri),
        (
            "v1 with both names on 1.7: plugins.cri wins",
            &v1_both,
            Some(v("1.7.24")),
            Cri,
        ),
        ("v1 without registry on 2.1", V1, Some(v("2.1.9")), Images),
        (
            "v1 with an images table on 2.1",
            &format!("{V1}{V1_IMAGES}"),
            Some(v("2.1.9")),
            Images,
        ),
        ("v2 on 1.7", V2, Some(v("1.7.24")), Grpc),
        (
            "v2 images file on 1.7: ignored there",
            V2_IMAGES,
            Some(v("1.7.24")),
            Grpc,
        ),
        ("v2 without registry on 2.1", V2, Some(v("2.1.9")), Grpc),
        ("v2 images file on 2.1", V2_IMAGES, Some(v("2.1.9")), Images),
        (
            "v2 with the images plugin, no registry, on 2.1",
            V2_IMAGES_PLUGIN,
            Some(v("2.1.9")),
            Images,
        ),
        (
            "v2 with both tables on 2.1: grpc replaces images",
            &v2_both,
            Some(v("2.1.9")),
            Grpc,
        ),
        ("v3: grpc is ignored", V3, Some(v("2.1.9")), Images),
        ("v3, containerd unknown", V3, None, Images),
    ];
    for (what, text, target, want) in cases {
        assert_eq!(table(text, target), want, "{what}");
    }
}

#[test]
fn without_a_target_the_file_says_what_it_was_written_for() {
    let images = parse(V2_IMAGES);
    let e = images.effective(None).unwrap();
    assert_eq!((e.table, e.two_x), (RegistryTable::Images, true));
    assert!(e.inferred.is_some_and(|why| why.contains("cri.v1.images")));
    let plain = parse(V2);
    let e = plain.effective(None).unwrap();
    assert_eq!(
        (e.table, e.two_x, e.inferred),
        (RegistryTable::Grpc, false, None)
    );
    // A grpc table next to the images one: a 1.x reader is as likely; no guess.
    assert_eq!(
        table(&format!("{V2_IMAGES}{}", &V2_GRPC[12..]), None),
        RegistryTable::Grpc
    );
}

#[test]
fn a_version_1_registry_table_on_2x_is_refused_with_its_place() {
    for extra in [V1_CRI, V1_GRPC] {
        let text = format!("{V1}{extra}");
        let config = parse(&text);
        let err = config.effective(Some(v("2.1.9"))).unwrap_err().to_string();
        assert!(err.starts_with("/etc/containerd/config.toml:3:1:"), "{err}");
        assert!(
            err.contains("version = 2") && err.contains("Nothing was written"),
            "{err}"
        );
        // 1.x reads it: no refusal there.
        assert!(config.effective(Some(v("1.7.24"))).is_ok());
    }
}

#[test]
fn tables_that_have_no_effect_are_named() {
    let both = format!("{V2_IMAGES}{}", &V2_GRPC[12..]);
    let config = parse(&both);
    let e = config.effective(Some(v("2.1.9"))).unwrap();
    let [(read, why)] = e.ignored.as_slice() else {
        panic!("{:?}", e.ignored);
    };
    assert_eq!(read.table, RegistryTable::Images);
    assert!(why.contains("replaces it whole"), "{why}");
    assert!(
        parse(V2_IMAGES)
            .effective(Some(v("2.1.9")))
            .unwrap()
            .ignored
            .is_empty()
    );
}

#[test]
fn the_edit_lands_in_the_table_read_and_nowhere_else() {
    let config = parse(V2_IMAGES);
    let e = config.effective(Some(v("2.1.9"))).unwrap();
    let out = config.with_config_path_in(&e, "/etc/containerd/certs.d");
    assert_eq!(
        out,
        V2_IMAGES.replace(
            "config_path = \"\"",
            "config_path = \"/etc/containerd/certs.d\""
        )
    );
    assert!(!out.contains("grpc"), "{out}");
    let again = parse(&out);
    let e = again.effective(Some(v("2.1.9"))).unwrap();
    assert_eq!(
        again.with_config_path_in(&e, "/etc/containerd/certs.d/"),
        out
    );
    // A version 1 file on 2.x gets the images table, the file's quoting kept.
    let config = parse(V1);
    let e = config.effective(Some(v("2.1.9"))).unwrap();
    let out = config.with_config_path_in(&e, "/d");
    assert!(
        out.ends_with(
            "\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/d\"\n"
        ),
        "{out}"
    );
    assert!(out.starts_with(V1));
}

#[test]
fn mirrors_and_tls_come_from_the_table_read() {
    let text = "version = 2\n[plugins.\"io.containerd.cri.v1.images\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m\"]\n[plugins.\"io.containerd.cri.v1.images\".registry.configs.\"r\".tls]\n  ca_file = \"/ca\"\n";
    let config = parse(text);
    let two = config.effective(Some(v("2.1.9"))).unwrap();
    assert_eq!((two.mirrors().len(), two.tls_configs().len()), (1, 1));
    // 1.7 reads the grpc table, which has neither.
    let one = config.effective(Some(v("1.7.24"))).unwrap();
    assert!(one.mirrors().is_empty() && one.tls_configs().is_empty());
}
