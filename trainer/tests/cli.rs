//! The trainer as a user runs it: train -> sample on a few steps, exact
//! resume, and clear failures on bad input (CPU backend, real MNIST).

mod common;

use std::path::Path;

use common::{fails, mnist_dir, ok, s};

use shared::ModelKind;
use shared::weights::{self, Role};

fn loss_rows(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("losses.csv")).unwrap().lines().skip(1).map(String::from).collect()
}

/// name -> (shape, bytes) of every tensor in a safetensors file.
fn tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut all: Vec<_> = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.shape().to_vec(), t.data().to_vec()))
        .collect();
    all.sort();
    all
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "{} is a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn train_then_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = ok(&[
        "train",
        "--model",
        "gan",
        "--max-steps",
        "3",
        "--batch-size",
        "16",
        "--backend",
        "cpu",
        "--run-dir",
        s(&run),
        "--export",
        s(&tmp.path().join("gan.safetensors")),
        "--eval-samples",
        "200",
    ]);
    assert!(out.contains("stopped after 3 steps"), "{out}");
    // The export for the web page: the generator, and its discriminator beside it.
    for (file, role) in [("gan.safetensors", Role::Generator), ("gan-discriminator.safetensors", Role::Discriminator)] {
        let info = weights::read_info(&std::fs::read(tmp.path().join(file)).unwrap()).unwrap();
        assert_eq!((info.role, info.model.kind()), (role, ModelKind::Gan), "{file}");
    }
    assert!(out.contains("FID "), "{out}");
    for file in ["config.json", "losses.csv", "checkpoint.mpk", "generator.safetensors", "discriminator.safetensors"] {
        assert!(run.join(file).is_file(), "{file} missing from the run folder");
    }
    let rows = loss_rows(&run);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[2].starts_with("3,1,"), "{rows:?}");
    // The 8x8 fixed-latent grid: 8 * 28 + 9 * 2 = 242 px, written twice as large.
    assert_eq!(png_size(&run.join("samples/epoch_000.png")), (484, 484));
    // Metrics of the model where it stopped, and the plot of the curves.
    let metrics: Vec<String> =
        std::fs::read_to_string(run.join("metrics.csv")).unwrap().lines().map(String::from).collect();
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    let row: Vec<f64> = metrics[1].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!((row.len(), row[0], row[16]), (18, 3.0, 28.0), "{row:?}");
    assert_eq!(row[17], row[2], "at 28x28 the matched FID is the plain one");
    assert!(row[2].is_finite() && row[2] > 0.0, "FID {}", row[2]);
    assert_eq!(row[6..16].iter().sum::<f64>(), 200.0, "the digit counts add up to the samples");
    assert_eq!(png_size(&run.join("curves.png")), (900, 640));
    // Its FID curve beside another run's, and a folder without measurements refused.
    let chart = tmp.path().join("compare.png");
    let out = ok(&["compare", &format!("short try={}", s(&run)), s(&run), "--out", s(&chart)]);
    assert!(out.contains("2 runs compared"), "{out}");
    assert_eq!(png_size(&chart), (900, 640));
    let err = fails(&["compare", s(tmp.path())]);
    assert!(err.contains("metrics.csv"), "{err}");

    let grid = tmp.path().join("grid.png");
    let raw = tmp.path().join("digits.raw");
    let weights = run.join("generator.safetensors");
    let out =
        ok(&["sample", "--weights", s(&weights), "--seed", "3", "--count", "10", "--out", s(&grid), "--raw", s(&raw)]);
    assert!(out.contains("10 gan digits"), "{out}");
    // 10 digits in a 4-column grid: 4 * 28 + 5 * 2 wide, 3 rows high.
    assert_eq!(png_size(&grid), (122, 3 * 28 + 4 * 2));
    let first = std::fs::read(&raw).unwrap();
    assert_eq!(first.len(), 10 * 784);
    // The same seed draws the same digits; another seed, others.
    ok(&["sample", "--weights", s(&weights), "--seed", "3", "--count", "10", "--out", s(&grid), "--raw", s(&raw)]);
    assert_eq!(std::fs::read(&raw).unwrap(), first);
    ok(&["sample", "--weights", s(&weights), "--seed", "4", "--count", "10", "--out", s(&grid), "--raw", s(&raw)]);
    assert_ne!(std::fs::read(&raw).unwrap(), first);

    // `eval`: the classifier's accuracy, the real-data floor and the generator's numbers.
    let json = tmp.path().join("eval.json");
    let out = ok(&["eval", s(&weights), "--samples", "300", "--json", s(&json)]);
    assert!(out.contains("classifier: 99."), "{out}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["classifier_test_accuracy"].as_f64().unwrap() >= 0.99, "{report}");
    let (floor, generator) = (&report["floor"], &report["generators"][0]);
    assert_eq!(floor["coverage"], 10, "{report}");
    assert_eq!(generator["samples"], 300, "{report}");
    // Three steps of training draw nothing like digits.
    assert!(generator["fid"].as_f64().unwrap() > 10.0 * floor["fid"].as_f64().unwrap(), "{report}");
    let err = fails(&["eval", s(&run.join("losses.csv"))]);
    assert!(err.contains("losses.csv") && err.contains("not a safetensors file"), "{err}");
}

#[test]
fn resume_continues_exactly() {
    for model in ["gan", "pggan"] {
        let tmp = tempfile::tempdir().unwrap();
        let (straight, split) = (tmp.path().join("straight"), tmp.path().join("split"));
        let common = [
            "--model",
            model,
            "--batch-size",
            "8",
            "--backend",
            "cpu",
            "--no-export",
            "--seed",
            "5",
            "--eval-every",
            "0",
            // generator.safetensors is then G's moving average, which must resume exactly too.
            "--ema-decay",
            "0.99",
        ];
        let run = |dir: &Path, steps: &str| {
            let mut args = vec!["train", "--max-steps", steps, "--run-dir", s(dir)];
            args.extend(common);
            ok(&args);
        };
        run(&straight, "5");
        run(&split, "2");
        let out = ok(&["train", "--resume", s(&split), "--max-steps", "5", "--backend", "cpu"]);
        assert!(out.contains("resuming"), "{out}");
        assert_eq!(loss_rows(&split), loss_rows(&straight), "{model}: resumed losses differ");
        for file in ["generator.safetensors", "discriminator.safetensors"] {
            let (a, b) = (tensors(&straight.join(file)), tensors(&split.join(file)));
            assert!(a == b, "{model}: resumed {file} differs");
        }
    }
}

#[test]
fn bad_input_fails_cleanly_and_keeps_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();

    let err = fails(&["train", "--backend", "quantum"]);
    assert!(err.contains("quantum") && err.contains("cpu"), "{err}");

    // A run folder that cannot be created (a file stands in the way).
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err =
        fails(&["train", "--max-steps", "1", "--backend", "cpu", "--run-dir", s(&blocker.join("run")), "--no-export"]);
    assert!(err.contains("cannot create run folder"), "{err}");

    // A damaged MNIST copy is named, with its checksum.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for f in std::fs::read_dir(mnist_dir()).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "gz") {
            std::fs::copy(&f, data.join(f.file_name().unwrap())).unwrap();
        }
    }
    let images = data.join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
    let run = tmp.path().join("run");
    let err = fails(&[
        "train",
        "--max-steps",
        "1",
        "--backend",
        "cpu",
        "--run-dir",
        s(&run),
        "--data-dir",
        s(&data),
        "--no-export",
    ]);
    assert!(err.contains("train-images-idx3-ubyte.gz") && err.contains("sha256"), "{err}");

    // A good run, then a resume that fails on bad data: the checkpoint stays as it was.
    let good = tmp.path().join("good");
    ok(&[
        "train",
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--backend",
        "cpu",
        "--run-dir",
        s(&good),
        "--no-export",
        "--eval-every",
        "0",
    ]);
    let checkpoint = std::fs::read(good.join("checkpoint.mpk")).unwrap();
    let err = fails(&["train", "--resume", s(&good), "--max-steps", "4", "--backend", "cpu", "--data-dir", s(&data)]);
    assert!(err.contains("sha256"), "{err}");
    assert_eq!(std::fs::read(good.join("checkpoint.mpk")).unwrap(), checkpoint);
    let leftovers: Vec<_> = std::fs::read_dir(&good).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(leftovers.iter().all(|n| !n.to_string_lossy().starts_with(".tmp")), "{leftovers:?}");

    // Starting over a run folder is refused.
    let err = fails(&["train", "--max-steps", "1", "--backend", "cpu", "--run-dir", s(&good), "--no-export"]);
    assert!(err.contains("--resume"), "{err}");

    // A checkpoint that is not one.
    let fake = tmp.path().join("fake");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(fake.join("checkpoint.mpk"), b"\x93garbage").unwrap();
    let err = fails(&["train", "--resume", s(&fake), "--backend", "cpu"]);
    assert!(err.contains("not a readable mnist-gan checkpoint"), "{err}");

    // Weights of the wrong kind, or not weights at all.
    let grid = tmp.path().join("g.png");
    let err = fails(&["sample", "--weights", s(&good.join("discriminator.safetensors")), "--out", s(&grid)]);
    assert!(err.contains("expected a gan generator"), "{err}");
    let err =
        fails(&["sample", "--weights", s(&good.join("generator.safetensors")), "--model", "pggan", "--out", s(&grid)]);
    assert!(err.contains("expected a pggan generator"), "{err}");
    let err = fails(&["sample", "--weights", s(&good.join("losses.csv")), "--out", s(&grid)]);
    assert!(err.contains("not a safetensors file"), "{err}");
    let err = fails(&["sample", "--weights", s(&tmp.path().join("nope.safetensors")), "--out", s(&grid)]);
    assert!(err.contains("nope.safetensors"), "{err}");
    assert!(!grid.exists(), "no output on failure");
}

#[test]
fn every_count_on_the_command_line_is_bounded() {
    let gan = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/weights/gan.safetensors");
    let cases: [(&[&str], &str); 12] = [
        (&["sample", "--weights", gan, "--count", "100000000"], "--count"),
        (&["sample", "--weights", gan, "--count", "0"], "--count"),
        (&["sample", "--weights", gan, "--scale", "1000000"], "--scale"),
        (&["sample", "--weights", gan, "--columns", "0"], "--columns"),
        (&["bench", "--batch-size", "70000"], "--batch-size"),
        (&["bench", "--steps", "0"], "--steps"),
        (&["eval", gan, "--samples", "1"], "--samples"),
        (&["classifier", "--out", "c.safetensors", "--steps", "0"], "--steps"),
        (&["classifier", "--out", "c.safetensors", "--lr", "nan"], "--lr"),
        (&["train", "--epochs", "0"], "--epochs"),
        (&["train", "--batch-size", "1"], "--batch-size"),
        (&["train", "--lr", "0"], "--lr"),
    ];
    for (args, named) in cases {
        let err = fails(args);
        assert!(err.contains(named) && (err.contains("expected") || err.contains("not in")), "{args:?}: {err}");
    }
    // A grid larger than a PNG should be is refused before anything is drawn.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("big.png");
    let err = fails(&["sample", "--weights", gan, "--count", "10000", "--scale", "32", "--out", s(&out)]);
    assert!(err.contains("over 16384 on a side") && !out.exists(), "{err}");
}

#[test]
fn a_short_try_never_replaces_the_shipped_weights() {
    // Run from a folder that looks like the repository: web/weights holds "shipped" files.
    let tmp = tempfile::tempdir().unwrap();
    let shipped = tmp.path().join("web/weights");
    std::fs::create_dir_all(&shipped).unwrap();
    std::fs::write(shipped.join("gan.safetensors"), b"the shipped weights").unwrap();
    let mut try_run = common::command(&["train", "--max-steps", "2", "--batch-size", "8", "--backend", "cpu"]);
    try_run.args(["--eval-every", "0"]).current_dir(tmp.path());
    let out = common::succeeds(try_run);
    assert!(out.contains("not exported: a --max-steps try never replaces"), "{out}");
    assert_eq!(std::fs::read(shipped.join("gan.safetensors")).unwrap(), b"the shipped weights");
    assert!(!shipped.join("gan-discriminator.safetensors").exists());
    assert!(tmp.path().join("runs/gan/generator.safetensors").exists(), "the try's own results are kept");
}

#[test]
fn a_killed_run_resumes_to_the_same_end() {
    let tmp = tempfile::tempdir().unwrap();
    let train = |dir: &Path, fault: Option<&str>| {
        let mut c = common::command(&["train", "--max-steps", "40", "--checkpoint-every", "10", "--batch-size", "8"]);
        c.args(["--backend", "cpu", "--eval-every", "0", "--no-export", "--seed", "2", "--run-dir", s(dir)]);
        if let Some(fault) = fault {
            c.env("MNIST_GAN_FAULT", fault);
        }
        common::output(&mut c)
    };
    let straight = tmp.path().join("straight");
    assert!(train(&straight, None).status.success());

    // Killed at step 25, mid-epoch: the checkpoint of step 20 is there.
    // Killed while writing the checkpoint of step 20 (its temporary file
    // written, not yet renamed): the one of step 10 is intact.
    for (name, fault, resumed_at) in [("killed", "step:25", "step 20"), ("torn", "checkpoint-rename:2", "step 10")] {
        let run = tmp.path().join(name);
        let out = train(&run, Some(fault));
        assert_eq!(out.status.code(), Some(86), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let out = ok(&["train", "--resume", s(&run), "--max-steps", "40", "--backend", "cpu"]);
        assert!(out.contains(resumed_at), "{name}: resumed at {resumed_at}: {out}");
        assert_eq!(loss_rows(&run), loss_rows(&straight), "{name}: losses differ from the uninterrupted run");
        for file in ["generator.safetensors", "discriminator.safetensors"] {
            assert!(tensors(&run.join(file)) == tensors(&straight.join(file)), "{name}: {file} differs");
        }
    }
}

/// A panic on a thread the main one waits for (as burn-wgpu's polling thread
/// can panic on a software GL driver) ends the process instead of hanging it.
#[test]
fn a_panic_on_any_thread_ends_the_process() {
    let mut c = common::command(&["sample", "--help"]);
    c.env("MNIST_GAN_FAULT", "thread-panic");
    let out = common::output(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("a helper thread panicked") && stderr.contains("internal error"), "{stderr}");
}

#[test]
fn a_progressive_run_grows_and_resumes_exactly_across_phases() {
    let tmp = tempfile::tempdir().unwrap();
    let (straight, split) = (tmp.path().join("straight"), tmp.path().join("split"));
    // 8 images a step: 4x4 for 2 steps, then per doubling 2 steps fading in
    // and 2 at that size; full size (32x32) from step 12. With every training
    // aid, which the checkpoint must restore too.
    let train = |dir: &Path, steps: &str| {
        ok(&[
            "train",
            "--model",
            "pggan",
            "--minibatch-stddev",
            "--equalized-lr",
            "--loss",
            "hinge",
            "--schedule",
            "progressive",
            "--fade-images",
            "16",
            "--stable-images",
            "16",
            "--batch-size",
            "8",
            "--max-steps",
            steps,
            "--backend",
            "cpu",
            "--no-export",
            "--eval-every",
            "0",
            "--seed",
            "4",
            "--run-dir",
            s(dir),
        ])
    };
    let out = train(&straight, "14");
    for line in [
        "hinge loss, lr",
        "training aids: minibatch standard deviation in D, equalised learning rate",
        "4x4 done after 16 images; now fading in 8x8 (0 %)",
        "fading in 32x32 (50 %) done",
        "now 32x32",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    let grids = ["step_0000002_4x4.png", "step_0000004_8x8.png", "step_0000010_16x16.png"];
    for grid in grids {
        assert_eq!(png_size(&straight.join("samples").join(grid)), (548, 548), "{grid}: 32x32 digits");
    }
    // Fully grown: the weights files hold the post's tensors only.
    let names = |file: &str| tensors(&straight.join(file)).into_iter().map(|(name, shape, _)| (name, shape));
    let config = shared::ModelConfig::post(ModelKind::Pggan);
    let mut expected = weights::torch_tensors(&config, Role::Generator);
    expected.sort();
    assert_eq!(names("generator.safetensors").collect::<Vec<_>>(), expected);
    // D's last block takes the minibatch standard deviation as a 513th channel.
    let d: Vec<_> = names("discriminator.safetensors").collect();
    assert!(d.contains(&("layers.3.0.weight".to_string(), vec![1, 513, 4, 4])), "{d:?}");

    // Stopped while growing (fading in 16x16): no weights files, a checkpoint to resume.
    let out = train(&split, "7");
    assert!(out.contains("while growing, at fading in 16x16"), "{out}");
    assert!(!split.join("generator.safetensors").exists());
    let out = ok(&["train", "--resume", s(&split), "--max-steps", "14", "--backend", "cpu"]);
    assert!(out.contains("resuming"), "{out}");
    assert_eq!(loss_rows(&split), loss_rows(&straight), "resumed losses differ");
    for file in ["generator.safetensors", "discriminator.safetensors"] {
        assert!(tensors(&straight.join(file)) == tensors(&split.join(file)), "resumed {file} differs");
    }
    let gan_dir = tmp.path().join("g");
    for flag in ["--schedule progressive", "--minibatch-stddev", "--equalized-lr"] {
        let mut args = vec!["train", "--model", "gan", "--run-dir", s(&gan_dir)];
        args.extend(flag.split(' '));
        let err = fails(&args);
        assert!(err.contains(flag.split(' ').next().unwrap()) && err.contains("--model pggan"), "{err}");
    }
}
