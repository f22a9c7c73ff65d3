//! Tunes a small neural network trained in-process, with early stopping.
//!
//! A one-hidden-layer MLP learns two interleaved spirals (a generated, noisy two-class
//! problem) by plain mini-batch gradient descent with momentum. Each trial reports its
//! validation loss after every epoch through the study's [`Reporter`]; the MedianStopping
//! policy stops the trials that fall behind, and `Study::run` keeps up to four trials
//! training at once (each epoch runs on tokio's blocking pool, so trials train in
//! parallel).
//!
//! ```text
//! cargo run --release --example tune_mlp -- [--trials 24] [--epochs 40] [--workspace DIR]
//! sweep status --workspace DIR      # the same sweep, seen by the CLI
//! ```
//!
//! Exits non-zero if no trial learned anything (best validation loss not below the 0.693 of
//! a constant prediction), so CI notices a broken study.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use sweep::spec::Policy;
use sweep::study::{Outcome, Reporter, Study, Trial};

/// Two interleaved spirals with Gaussian noise: `(x, y, label)`.
fn spirals(n: usize, noise: f64, seed: u64) -> Vec<([f64; 2], f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let label = (i % 2) as f64;
            let t = rng.random_range(0.25..1.0f64) * 3.0 * std::f64::consts::PI;
            let sign = if label == 0.0 { 1.0 } else { -1.0 };
            let mut g = || noise * (rng.random::<f64>() + rng.random::<f64>() - 1.0);
            let x = sign * t * t.cos() / 10.0 + g();
            let y = sign * t * t.sin() / 10.0 + g();
            ([x, y], label)
        })
        .collect()
}

/// The network's hyperparameters, read from the trial with serde.
#[derive(Debug, Clone, serde::Deserialize)]
struct Hyper {
    learning_rate: f64,
    hidden: usize,
    momentum: f64,
    batch_size: usize,
    activation: String,
}

/// A 2-`hidden`-1 network with a sigmoid output, trained on binary cross-entropy.
#[derive(Clone)]
struct Mlp {
    w1: Vec<[f64; 2]>,
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: f64,
    relu: bool,
    velocity: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Mlp {
    fn new(h: &Hyper, seed: u64) -> Mlp {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // He initialisation, sqrt(2 / fan_in), with two inputs.
        let scale = 1.0;
        let mut r = || (rng.random::<f64>() * 2.0 - 1.0) * scale;
        let w1 = (0..h.hidden).map(|_| [r(), r()]).collect();
        let w2 = (0..h.hidden)
            .map(|_| r() / (h.hidden as f64).sqrt())
            .collect();
        Mlp {
            w1,
            b1: vec![0.0; h.hidden],
            w2,
            b2: 0.0,
            relu: h.activation == "relu",
            velocity: vec![0.0; 4 * h.hidden + 1],
        }
    }

    fn act(&self, z: f64) -> (f64, f64) {
        if self.relu {
            if z > 0.0 {
                (z, 1.0)
            } else {
                (0.0, 0.0)
            }
        } else {
            let a = z.tanh();
            (a, 1.0 - a * a)
        }
    }

    /// The hidden activations, their derivatives and the output probability.
    fn forward(&self, x: &[f64; 2]) -> (Vec<(f64, f64)>, f64) {
        let hidden: Vec<(f64, f64)> = self
            .w1
            .iter()
            .zip(&self.b1)
            .map(|(w, b)| self.act(w[0] * x[0] + w[1] * x[1] + b))
            .collect();
        let z = hidden
            .iter()
            .zip(&self.w2)
            .map(|(a, w)| a.0 * w)
            .sum::<f64>()
            + self.b2;
        (hidden, sigmoid(z))
    }

    /// One epoch of mini-batch gradient descent with momentum.
    fn train_epoch(&mut self, data: &[([f64; 2], f64)], h: &Hyper, rng: &mut ChaCha8Rng) {
        let mut order: Vec<usize> = (0..data.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let k = self.w1.len();
        for batch in order.chunks(h.batch_size.max(1)) {
            // Gradient layout: w1 (2k), b1 (k), w2 (k), b2 (1).
            let mut g = vec![0.0; 4 * k + 1];
            for &i in batch {
                let (x, y) = &data[i];
                let (hidden, p) = self.forward(x);
                let dz = p - y;
                for j in 0..k {
                    let (a, da) = hidden[j];
                    g[3 * k + j] += dz * a;
                    let dh = dz * self.w2[j] * da;
                    g[2 * j] += dh * x[0];
                    g[2 * j + 1] += dh * x[1];
                    g[2 * k + j] += dh;
                }
                g[4 * k] += dz;
            }
            let n = batch.len() as f64;
            for (v, gi) in self.velocity.iter_mut().zip(&g) {
                *v = h.momentum * *v - h.learning_rate * gi / n;
            }
            let v = &self.velocity;
            for j in 0..k {
                self.w1[j][0] += v[2 * j];
                self.w1[j][1] += v[2 * j + 1];
                self.b1[j] += v[2 * k + j];
                self.w2[j] += v[3 * k + j];
            }
            self.b2 += v[4 * k];
        }
    }

    /// Mean binary cross-entropy.
    fn loss(&self, data: &[([f64; 2], f64)]) -> f64 {
        data.iter()
            .map(|(x, y)| {
                let p = self.forward(x).1.clamp(1e-12, 1.0 - 1e-12);
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / data.len() as f64
    }
}

struct Data {
    train: Vec<([f64; 2], f64)>,
    val: Vec<([f64; 2], f64)>,
}

/// The objective: trains one network, reporting validation loss per epoch.
async fn train(trial: Trial, reporter: Reporter, data: Arc<Data>, epochs: u32) -> Outcome {
    let h: Hyper = match trial.params() {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut net = Mlp::new(&h, trial.number());
    let mut rng = ChaCha8Rng::seed_from_u64(1000 + trial.number());
    for _ in 0..epochs {
        // Training is CPU work: run it on the blocking pool, not on a runtime worker.
        let (d, hh) = (data.clone(), h.clone());
        let epoch = tokio::task::spawn_blocking(move || {
            net.train_epoch(&d.train, &hh, &mut rng);
            let loss = net.loss(&d.val);
            (net, rng, loss)
        })
        .await;
        let Ok((n, r, loss)) = epoch else {
            return Outcome::Failed("training panicked".into());
        };
        (net, rng) = (n, r);
        if !loss.is_finite() {
            return Outcome::Failed("diverged".into());
        }
        if reporter.report(loss).should_stop() {
            return Outcome::Pruned;
        }
    }
    Outcome::Completed
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let trials: u64 = arg("--trials").map_or(Ok(24), |s| s.parse())?;
    let epochs: u32 = arg("--epochs").map_or(Ok(40), |s| s.parse())?;
    let workspace = arg("--workspace").map_or_else(
        || std::env::temp_dir().join(format!("sweep-tune-mlp-{}", std::process::id())),
        Into::into,
    );

    let data = Arc::new(Data {
        train: spirals(400, 0.08, 1),
        val: spirals(200, 0.08, 2),
    });
    let study = Study::builder()
        .name("tune-mlp")
        .workspace(&workspace)
        .minimize("val_loss")
        .loguniform("learning_rate", 0.003f64.ln(), 1.0f64.ln())
        .choice("hidden", [4, 8, 16, 32])
        .uniform("momentum", 0.0, 0.95)
        .choice("batch_size", [16, 32, 64])
        .choice("activation", ["tanh", "relu"])
        .sobol()
        .seed(7)
        .max_total_runs(trials)
        .max_concurrent_runs(4)
        .policy(Policy::median_stopping().with_delay_evaluation(5))
        .build()?;
    println!(
        "study {} in {} ({} trials of up to {epochs} epochs, 4 at once)",
        study.id(),
        workspace.display(),
        trials
    );
    let summary = study
        .run(|trial, reporter| train(trial, reporter, data.clone(), epochs))
        .await?;

    println!(
        "{} trials: {} completed, {} pruned by the policy, {} failed",
        summary.trials, summary.completed, summary.canceled, summary.failed
    );
    let best = summary.best.ok_or("no trial reported a finite loss")?;
    println!("best trial #{}: val_loss {:.4}", best.number, best.value);
    for (name, value) in best.params.iter() {
        println!("  {name} = {value}");
    }
    println!(
        "see it with: sweep status {} --workspace {}",
        study.id(),
        workspace.display()
    );
    if best.value >= std::f64::consts::LN_2 {
        return Err(format!(
            "no trial learned anything: best val_loss {:.4} >= ln 2",
            best.value
        )
        .into());
    }
    Ok(())
}
