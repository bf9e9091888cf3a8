//! Replays the fuzzing seeds (`fuzz/seeds/<target>/`), the corpus the fuzzer
//! grew from them (`fuzz/corpus/<target>/`) and every crash it found
//! (`fuzz/artifacts/<target>/`) through the targets' bodies, as ordinary test
//! cases: each input must be answered without a panic.

use std::path::PathBuf;

use mnist_gan_tests::fuzzing;

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files: Vec<PathBuf> = ["seeds", "corpus", "artifacts"]
        .iter()
        .filter_map(|kind| std::fs::read_dir(fuzz.join(kind).join(target)).ok())
        .flat_map(|dir| dir.map(|entry| entry.unwrap().path()))
        .collect();
    files.sort();
    files
}

fn replay(target: &str, body: fn(&[u8])) {
    let files = inputs(target);
    assert!(files.len() >= 100, "fuzz/corpus/{target}/ should hold the committed corpus, found {} files", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            panic!("fuzz target {target} panicked on {}", file.display());
        }
    }
}

#[test]
fn idx_corpus() {
    replay("idx", fuzzing::idx);
}

#[test]
fn weights_corpus() {
    replay("weights", fuzzing::weights);
}

#[test]
fn header_corpus() {
    replay("header", fuzzing::header);
}

/// The seeds `fuzz/seeds.py` writes (`fuzz/seeds/`) reach past the first checks: the valid
/// ones decode and load, so the fuzzer starts deep inside each decoder.
#[test]
fn the_valid_seeds_load() {
    use shared::burn::prelude::Device;
    use shared::weights;
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let read = |path: &str| std::fs::read(corpus.join(path)).unwrap();
    assert_eq!(shared::mnist::decode_images("seed", &read("idx/images.idx.gz")).unwrap().count, 2);
    assert_eq!(shared::mnist::decode_labels("seed", &read("idx/labels.idx")).unwrap(), [0, 7, 9]);
    let device = Device::flex();
    for arch in ["gan", "pggan"] {
        for dtype in ["float32", "float16"] {
            let file = |role: &str| read(&format!("weights/{arch}-{role}-{dtype}.safetensors"));
            weights::load_generator(&file("generator"), None, &device).unwrap();
            weights::load_discriminator(&file("discriminator"), None, &device).unwrap();
        }
        let json = read(&format!("header/{arch}-generator.json"));
        weights::parse_info(std::str::from_utf8(&json).unwrap()).unwrap();
    }
}
