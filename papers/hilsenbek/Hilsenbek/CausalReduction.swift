import Replicate

// Hilsenbek (2024), "Breaking the Attention Bottleneck" (arXiv 2406.10906): a parameter-free
// "generative function" that compares every position with the previous one, used in place of
// attention or of the MLP's activation. Implemented from the math in
// ../shared/papers/hilsenbek.md §1 (not from the author's AGPL code).
//
// Dimension legend: B batch, T time (sequence), C channels (n_embd, or 4·n_embd inside the MLP).

/// How position t is compared with position t−1.
public enum CausalReduction: String, Codable, CaseIterable, Sendable {
    /// y_t = h_t ⊓ h_{t−1}, element-wise (the author's main variant, `causal_matrix_reduction`).
    case min
    /// y_t = h_t ⊔ h_{t−1}.
    case max
    /// y_t = (h_t + h_{t−1})/2. The author's code calls `torch.mean(a, b)`, whose second
    /// argument is a dimension, so it never computes this; this is the intended math.
    case mean
}

/// The "average context vector" g_t that joins the comparison as a third operand.
public enum ContextVector: String, Codable, CaseIterable, Sendable {
    case none
    /// g = (1/T)·Σ_{s<T} h_s, the author's `causal_context_unity_matrix`. NOT causal: under
    /// teacher forcing every position sees the mean of the future ones.
    case sequenceMean = "sequence_mean"
    /// g_t = (1/(t+1))·Σ_{s≤t} h_s: the causal alternative (a running mean).
    case prefixMean = "prefix_mean"
}

/// Hilsenbek's generative function along time (axis 1) of h (B, T, …):
///
///     y_0 = h_0 (without context),   y_t = R(h_t, h_{t−1}[, g_t])
///
/// with R = min, max or mean of its operands. The first position is compared with itself
/// (the author's "causal shift" duplicates row 0), so y_0 = h_0, or R(h_0, g_0) with context
/// (the author stacks g at every position, t = 0 included; with the prefix mean g_0 = h_0).
///
/// NOTE: min/max route the whole gradient of each element to the operand it selected (a
/// sub-gradient, as `torch.min` over a stacked axis). Ties go to h_t, then h_{t−1}, then g, so
/// at t = 0 the gradient reaches h_0 once, not twice. The context's share is spread over the
/// positions g averages, by the mean's own backward rule.
///
/// Usage: `let y = causalReduction(x, .min)          // (B, T, C)`
public func causalReduction(_ h: Tensor, _ kind: CausalReduction, context: ContextVector = .none) -> Tensor {
    precondition(h.rank >= 2, "causalReduction needs (B, T, …), got \(h.shape)")
    let previous = h.shiftedPrevious(axis: 1)                        // (B, T, C): h_{max(t−1, 0)}
    let g = contextVector(h, context)                                // (B, T or 1, C) or nil
    switch kind {
    case .min:
        let pair = minimum(h, previous)
        return g.map { minimum(pair, $0) } ?? pair
    case .max:
        let pair = maximum(h, previous)
        return g.map { maximum(pair, $0) } ?? pair
    case .mean:
        guard let g else { return (h + previous) * 0.5 }
        return (h + previous + g) * (1 / Float(3))
    }
}

/// The context operand of `causalReduction`: (B, 1, C) for the sequence mean (broadcast over
/// time), (B, T, C) for the prefix mean, nil for none.
public func contextVector(_ h: Tensor, _ context: ContextVector) -> Tensor? {
    switch context {
    case .none: return nil
    case .sequenceMean: return h.mean(axis: 1, keepDims: true)      // (B, 1, C)
    case .prefixMean: return h.cumulativeMean(axis: 1)               // (B, T, C)
    }
}

/// Which operand the min or max selected at every element of `causalReduction(h, kind,
/// context:)`: 0 = h_t (the position itself), 1 = h_{t−1}, 2 = the context g_t, with the
/// forward's tie rule. Nil for `.mean`, which selects nothing.
///
/// Usage: `let src = causalReductionSource(x, .min)!   // (B, T, C) of 0/1`
public func causalReductionSource(_ h: Tensor, _ kind: CausalReduction, context: ContextVector = .none) -> Tensor? {
    guard kind != .mean else { return nil }
    return noGrad {
        let previous = h.shiftedPrevious(axis: 1)
        let g = contextVector(h, context).map { $0.shape == h.shape ? $0 : $0 + Tensor.zeros(h.shape) }
        let out = Tensor.zeros(h.shape)
        let ph = h.data, pp = previous.data, po = out.data
        let pg = g?.data
        // The forward's rule: R(R(h, prev), g), the first operand winning ties at each step.
        let beats: (Float, Float) -> Bool = kind == .min ? { $0 <= $1 } : { $0 >= $1 }
        for i in 0..<h.count {
            var best = ph[i], source: Float = 0
            if !beats(best, pp[i]) { best = pp[i]; source = 1 }
            if let pg, !beats(best, pg[i]) { source = 2 }
            po[i] = source
        }
        return out
    }
}

/// Variant (A), attention replacement: nanoGPT's `CausalSelfAttention` with `c_attn` and the
/// softmax removed, y = resid_dropout(c_proj(R(x))) for x = ln_1 output (B, T, C). Keeps the
/// parameter name `attn.c_proj`, so the checkpoint keys are nanoGPT's minus `attn.c_attn`.
public final class CausalReductionMixer: SequenceLayer {
    public let cProj: Linear
    public let reduction: CausalReduction
    public let context: ContextVector
    let dropoutP: Float
    let drop: DropoutState

    public init(_ config: GPTConfig, drop: DropoutState, rng: inout RNG, reduction: CausalReduction,
                context: ContextVector = .none) {
        // The same init as attention's output projection: N(0, 0.02/√(2·n_layer)).
        cProj = Linear(config.nEmbd, config.nEmbd, bias: config.bias, std: 0.02 / (2 * Float(config.nLayer)).squareRoot(), rng: &rng)
        self.reduction = reduction
        self.context = context
        dropoutP = config.dropout
        self.drop = drop
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        drop(cProj(causalReduction(x, reduction, context: context)), p: dropoutP)   // (B, T, C)
    }

    public func namedParameters() -> [(String, Tensor)] { named("c_proj", cProj) }
}

/// Where Hilsenbek's generative function sits in a nanoGPT model.
public enum GenerativeFunctionPlacement: Equatable, Sendable {
    /// Nowhere: nanoGPT with causal self-attention (the baseline).
    case none
    /// (A) in place of attention: `CausalReductionMixer` (R then `c_proj`; `c_attn` dropped).
    case attention(CausalReduction, ContextVector)
    /// (B) in place of the MLP's GELU: c_proj(R(c_fc(x))), R along time on (B, T, 4C).
    case activation(CausalReduction)
}

extension GPT {
    /// nanoGPT with the generative function placed as `placement`; everything else (init,
    /// parameter names, the order of random draws apart from the dropped `c_attn`) unchanged.
    ///
    /// Usage: `let model = GPT(config, seed: 1, generativeFunction: .attention(.min, .none))`
    public convenience init(_ config: GPTConfig, seed: UInt64, generativeFunction placement: GenerativeFunctionPlacement) {
        switch placement {
        case .none:
            self.init(config, seed: seed)
        case .attention(let kind, let context):
            self.init(config, seed: seed, makeAttention: { c, drop, rng in
                CausalReductionMixer(c, drop: drop, rng: &rng, reduction: kind, context: context)
            })
        case .activation(let kind):
            self.init(config, seed: seed, activation: { causalReduction($0, kind) })
        }
    }
}

// MARK: - Inspection

/// The reductions' inputs, outputs and selected operands in every layer of `model` for token
/// ids (B, T), for activations.h5:
///
/// - `transformer.h.<i>.attn.reduction_in` / `_out` / `_source` for a `CausalReductionMixer`;
/// - `transformer.h.<i>.mlp.reduction_in` / `_out` / `_source` (c_fc output, B × T × 4C) when
///   the MLP's activation is `causalReduction(·, mlpReduction)` (variant B; a closure cannot be
///   inspected, so the caller says so).
///
/// `_source` holds 0 (h_t), 1 (h_{t−1}) or 2 (context) and is absent for the mean.
public func causalReductionActivations(_ model: GPT, _ idx: [Int32], batch: Int, time: Int,
                                       mlpReduction: CausalReduction? = nil) -> [(String, Tensor)] {
    let wasTraining = model.training
    model.training = false
    defer { model.training = wasTraining }
    return noGrad {
        var out: [(String, Tensor)] = []
        var x = model.wte(idx, shape: [batch, time]) + model.wpe((0..<Int32(time)).map { $0 }, shape: [time])
        for (i, block) in model.blocks.enumerated() {
            if let mixer = block.attn as? CausalReductionMixer {
                let a = block.ln1(x)                                                 // (B, T, C)
                let p = "transformer.h.\(i).attn.reduction"
                out.append((p + "_in", a))
                out.append((p + "_out", causalReduction(a, mixer.reduction, context: mixer.context)))
                if let s = causalReductionSource(a, mixer.reduction, context: mixer.context) { out.append((p + "_source", s)) }
            }
            if let kind = mlpReduction {
                let h = x + block.attn(block.ln1(x))
                let u = block.mlp.cFc(block.ln2(h))                                  // (B, T, 4C)
                let p = "transformer.h.\(i).mlp.reduction"
                out.append((p + "_in", u))
                out.append((p + "_out", causalReduction(u, kind)))
                if let s = causalReductionSource(u, kind) { out.append((p + "_source", s)) }
            }
            x = block(x)
        }
        return out
    }
}
