import TensorCore

// The causality test every causal model gets: changing future tokens must not change past outputs.

/// The outcome of `causalityViolation`.
public struct CausalityResult: Sendable, CustomStringConvertible {
    /// The largest |Δ output| at positions ≤ t when the tokens after t change, over all cuts t.
    public let maxChange: Float
    /// The cut t where `maxChange` occurred.
    public let worstCut: Int
    /// The largest |Δ output| at positions > t: proof that the perturbation reached the model.
    public let futureEffect: Float
    /// The largest |output| seen, the scale `tolerance` is relative to.
    public let scale: Float
    /// Changes up to this are float round-off, not a leak.
    public let tolerance: Float

    /// No output at a position ≤ t depends on a token after t.
    public var isCausal: Bool { maxChange <= tolerance }

    public var description: String {
        (isCausal ? "causal" : "NOT causal") + ": max |Δ past output| \(maxChange) (cut \(worstCut), tolerance \(tolerance)); "
            + "max |Δ future output| \(futureEffect)"
    }
}

/// Causality test: for every cut t in 0..<T−1, replace the tokens after t by different random
/// tokens and measure how much the outputs (B, T, …) at positions ≤ t change. A causal model's
/// arithmetic at positions ≤ t never reads a later token, so the change is exactly 0 (the
/// tolerance, 1e-6 of the outputs' scale, only guards against shape-independent round-off).
///
/// Usage: `causalityViolation(vocabSize: 65, time: 64) { ids, b, t in model(ids, batch: b, time: t) }`
public func causalityViolation(vocabSize: Int, time: Int, batch: Int = 2, seed: UInt64 = 1,
                               _ forward: (_ ids: [Int32], _ batch: Int, _ time: Int) -> Tensor) -> CausalityResult {
    precondition(vocabSize >= 2 && time >= 2, "the causality test needs at least 2 tokens and 2 positions")
    var rng = RNG(seed: seed)
    let ids = (0..<(batch * time)).map { _ in Int32(rng.nextInt(below: vocabSize)) }
    return noGrad {
        let base = forward(ids, batch, time)                                     // (B, T, …)
        precondition(base.rank >= 2 && base.shape[0] == batch && base.shape[1] == time, "outputs must be (B, T, …), got \(base.shape)")
        let row = base.count / (batch * time)                                    // elements per position
        var maxChange: Float = 0, worst = 0, future: Float = 0, scale: Float = 0
        for i in 0..<base.count { scale = Swift.max(scale, Swift.abs(base.data[i])) }
        for cut in 0..<(time - 1) {
            var changed = ids
            for b in 0..<batch {
                for t in (cut + 1)..<time {
                    // A different token: shift by 1...vocab−1.
                    let i = b * time + t
                    changed[i] = Int32((Int(ids[i]) + 1 + rng.nextInt(below: vocabSize - 1)) % vocabSize)
                }
            }
            let y = forward(changed, batch, time)
            for b in 0..<batch {
                for t in 0..<time {
                    let o = (b * time + t) * row
                    var d: Float = 0
                    for k in 0..<row { d = Swift.max(d, Swift.abs(y.data[o + k] - base.data[o + k])) }
                    if t <= cut {
                        if d > maxChange { maxChange = d; worst = cut }
                    } else {
                        future = Swift.max(future, d)
                    }
                }
            }
        }
        return CausalityResult(maxChange: maxChange, worstCut: worst, futureEffect: future, scale: scale,
                               tolerance: 1e-6 * Swift.max(scale, 1))
    }
}

/// The causality test on a GPT's logits, in eval mode.
public func causalityViolation(_ model: GPT, time: Int? = nil, batch: Int = 2, seed: UInt64 = 1) -> CausalityResult {
    let wasTraining = model.training
    model.training = false
    defer { model.training = wasTraining }
    return causalityViolation(vocabSize: model.config.vocabSize, time: time ?? model.config.blockSize, batch: batch, seed: seed) {
        model($0, batch: $1, time: $2)
    }
}
