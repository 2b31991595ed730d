// The measurements main.swift takes of each trained model, and small report helpers.
// Dimension legend: B batch, T time (block_size), C channels (n_embd), V vocabulary.

import Foundation
import Hilsenbek
import Replicate

/// Validation loss on fixed windows, computed two ways:
///
/// - `window`: every position sees the whole window, as in training and nanoGPT's
///   `estimate_loss` (teacher forcing);
/// - `prefixOnly`: position t sees only the tokens 0...t, as when generating text. Each
///   position gets its own forward pass on the cropped window.
///
/// The two agree to round-off for a causal model; the gap is what a model gains from looking
/// at future tokens it will not have at generation time.
func windowAndPrefixLoss(_ model: GPT, data: CharDataset, batch: Int, block: Int, batches: Int,
                         seed: UInt64) -> (window: Double, prefixOnly: Double) {
    let wasTraining = model.training
    model.training = false
    defer { model.training = wasTraining }
    var rng = RNG(seed: seed)
    let v = data.vocabSize
    /// −log softmax(row)[target], in Double.
    func nll(_ p: UnsafeMutablePointer<Float>, _ target: Int32) -> Double {
        var m = -Double.infinity
        for k in 0..<v { m = Swift.max(m, Double(p[k])) }
        var s = 0.0
        for k in 0..<v { s += Foundation.exp(Double(p[k]) - m) }
        return m + Foundation.log(s) - Double(p[Int(target)])
    }
    return noGrad {
        var window = 0.0, prefix = 0.0, n = 0
        for _ in 0..<batches {
            let (x, y) = data.batch(.val, batch: batch, block: block, rng: &rng)   // (B, T) each
            let full = model(x, batch: batch, time: block)                           // (B, T, V)
            for b in 0..<batch { for t in 0..<block { window += nll(full.data + (b * block + t) * v, y[b * block + t]) } }
            for t in 0..<block {
                let cropped = (0..<batch).flatMap { b in x[(b * block)...(b * block + t)] }  // (B, t+1)
                let logits = model(cropped, batch: batch, time: t + 1)                       // (B, t+1, V)
                for b in 0..<batch { prefix += nll(logits.data + (b * (t + 1) + t) * v, y[b * block + t]) }
            }
            n += batch * block
        }
        return (window / Double(n), prefix / Double(n))
    }
}

/// Trailing moving average (the first points average what there is).
func movingAverage(_ x: [Double], window: Int) -> [Double] {
    var out: [Double] = [], sum = 0.0
    for i in x.indices {
        sum += x[i]
        if i >= window { sum -= x[i - window] }
        out.append(sum / Double(Swift.min(i + 1, window)))
    }
    return out
}

/// "1.234 ± 0.012 [1.220, 1.247]" for a metric over seeds, "—" when absent.
func meanSpread(_ m: MeasuredValues?, digits: Int = 3) -> String {
    guard let m, m.n > 0 else { return "—" }
    let f = "%.\(digits)f"
    var s = String(format: f, m.mean)
    if let std = m.std {
        s += " ± " + String(format: f, std) + " [" + String(format: f, m.values.min()!) + ", " + String(format: f, m.values.max()!) + "]"
    }
    return s
}
