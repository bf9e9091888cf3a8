//! Finds MNIST on disk, or downloads it from the usual public mirrors, checks
//! every file's sha256 against the original distribution, and caches it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use shared::mnist::{Dataset, Split};

use crate::DataArgs;
use crate::files;

/// sha256 of the four original files (the same files whose md5 torchvision checks).
const SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
];

/// torchvision's mirrors, in its order.
const MIRRORS: [&str; 2] =
    ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"];

/// `$XDG_CACHE_HOME/mnist-gan/mnist`, or `~/.cache/mnist-gan/mnist`.
pub fn default_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("mnist-gan").join("mnist")
}

pub fn data_dir(args: &DataArgs) -> PathBuf {
    args.data_dir.clone().unwrap_or_else(default_dir)
}

/// Loads and validates one split.
pub fn load(dir: &Path, split: Split) -> anyhow::Result<Dataset> {
    let images = fetch(dir, split.images_file())?;
    let labels = fetch(dir, split.labels_file())?;
    Ok(Dataset::decode_split(split, &images, &labels)?)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn expected_sha256(name: &str) -> &'static str {
    SHA256.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).expect("a known MNIST file name")
}

/// The bytes of `dir/name`, downloaded first when absent; checked either way.
fn fetch(dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(name);
    let expected = expected_sha256(name);
    if path.exists() {
        let bytes = files::read(&path)?;
        let found = sha256_hex(&bytes);
        if found != expected {
            bail!(
                "{}: sha256 is {found}, expected {expected} (the original MNIST file); \
                 the file is damaged or not MNIST: delete it to download it again",
                path.display()
            );
        }
        return Ok(bytes);
    }
    let bytes = download(name).with_context(|| {
        format!(
            "MNIST file {name} is not in {} and could not be downloaded; \
             put the four MNIST .gz files in a folder and pass --data-dir DIR (or set MNIST_DIR)",
            dir.display()
        )
    })?;
    files::write_atomic(&path, &bytes).with_context(|| format!("caching {name} in {}", dir.display()))?;
    eprintln!("downloaded {name} to {}", path.display());
    Ok(bytes)
}

fn download(name: &str) -> anyhow::Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let expected = expected_sha256(name);
    let mut failures = Vec::new();
    for mirror in MIRRORS {
        let url = format!("{mirror}{name}");
        eprintln!("downloading {url}");
        let attempt = agent.get(&url).call().and_then(|mut r| r.body_mut().with_config().limit(32 << 20).read_to_vec());
        match attempt {
            Ok(bytes) if sha256_hex(&bytes) == expected => return Ok(bytes),
            Ok(bytes) => failures.push(format!("{url}: sha256 {} does not match", sha256_hex(&bytes))),
            Err(e) => failures.push(format!("{url}: {e}")),
        }
    }
    bail!("every mirror failed: {}", failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_file_is_refused_by_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let name = Split::Test.labels_file();
        std::fs::write(dir.path().join(name), b"not mnist").unwrap();
        let err = fetch(dir.path(), name).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("sha256"), "{err}");
    }
}
