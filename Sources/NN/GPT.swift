import TensorCore

// Dimension legend: B batch, T time (sequence), C channels (n_embd), V vocabulary, H heads.

/// nanoGPT's `GPTConfig`.
public struct GPTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var blockSize: Int
    public var nLayer: Int
    public var nHead: Int
    public var nEmbd: Int
    public var dropout: Float
    public var bias: Bool

    public init(vocabSize: Int, blockSize: Int, nLayer: Int, nHead: Int, nEmbd: Int, dropout: Float = 0, bias: Bool = false) {
        self.vocabSize = vocabSize; self.blockSize = blockSize; self.nLayer = nLayer
        self.nHead = nHead; self.nEmbd = nEmbd; self.dropout = dropout; self.bias = bias
    }
}

/// Dropout owns no parameters but needs randomness and a train/eval switch shared by the model.
public final class DropoutState {
    public var training = true
    public var rng: RNG
    public init(seed: UInt64) { rng = RNG(seed: seed) }
    public func callAsFunction(_ x: Tensor, p: Float) -> Tensor { dropout(x, p: p, training: training, rng: &rng) }
}

/// nanoGPT's `CausalSelfAttention`: c_attn (C → 3C), fused causal softmax attention, c_proj.
public final class CausalSelfAttention: SequenceLayer {
    public let cAttn: Linear
    public let cProj: Linear
    let nHead: Int
    let dropoutP: Float
    let drop: DropoutState

    public init(_ config: GPTConfig, drop: DropoutState, rng: inout RNG) {
        precondition(config.nEmbd % config.nHead == 0, "n_embd must be divisible by n_head")
        cAttn = Linear(config.nEmbd, 3 * config.nEmbd, bias: config.bias, rng: &rng)
        // Residual projections get std 0.02/√(2·n_layer), as in the GPT-2 paper and nanoGPT.
        cProj = Linear(config.nEmbd, config.nEmbd, bias: config.bias, std: 0.02 / (2 * Float(config.nLayer)).squareRoot(), rng: &rng)
        nHead = config.nHead
        dropoutP = config.dropout
        self.drop = drop
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        // NOTE: attention-weight dropout is not applied (nanoGPT's flash path applies it inside
        // SDPA); the replications here all train with dropout 0.
        let y = causalSelfAttention(cAttn(x), heads: nHead)   // (B, T, C)
        return drop(cProj(y), p: dropoutP)
    }

    public func namedParameters() -> [(String, Tensor)] { named("c_attn", cAttn) + named("c_proj", cProj) }

    /// The attention probabilities (B, H, T, T) for input `x` (B, T, C), recomputed by the
    /// composed reference path: for inspection, not for training.
    public func attentionWeights(_ x: Tensor) -> Tensor {
        let b = x.shape[0], t = x.shape[1], c = x.shape[2], d = c / nHead
        let qkv = cAttn(x)
        func head(_ i: Int) -> Tensor { qkv.slice(axis: 2, (i * c)..<((i + 1) * c)).reshape([b, t, nHead, d]).permute([0, 2, 1, 3]) }
        let scores = matmul(head(0), head(1), transposeB: true) * (1 / Float(d).squareRoot())   // (B, H, T, T)
        var mask = [Float](repeating: 0, count: t * t)
        for i in 0..<t { for j in (i + 1)..<max(t, i + 1) { mask[i * t + j] = -.infinity } }
        return (scores + Tensor(mask, shape: [t, t])).softmax()
    }
}

/// nanoGPT's `MLP`: c_fc (C → 4C), activation, c_proj (4C → C), dropout.
public final class MLP: Module {
    public let cFc: Linear
    public let cProj: Linear
    /// GELU by default; papers swap it (Hilsenbek's causal activation acts along time on (B, T, 4C)).
    public var activation: (Tensor) -> Tensor
    let dropoutP: Float
    let drop: DropoutState

    public init(_ config: GPTConfig, drop: DropoutState, rng: inout RNG, activation: @escaping (Tensor) -> Tensor = { $0.gelu() }) {
        cFc = Linear(config.nEmbd, 4 * config.nEmbd, bias: config.bias, rng: &rng)
        cProj = Linear(4 * config.nEmbd, config.nEmbd, bias: config.bias, std: 0.02 / (2 * Float(config.nLayer)).squareRoot(), rng: &rng)
        self.activation = activation
        dropoutP = config.dropout
        self.drop = drop
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { drop(cProj(activation(cFc(x))), p: dropoutP) }

    public func namedParameters() -> [(String, Tensor)] { named("c_fc", cFc) + named("c_proj", cProj) }
}

/// Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
public final class Block: Module {
    public let ln1: LayerNorm
    public let attn: SequenceLayer
    public let ln2: LayerNorm
    public let mlp: MLP

    public init(ln1: LayerNorm, attn: SequenceLayer, ln2: LayerNorm, mlp: MLP) {
        self.ln1 = ln1; self.attn = attn; self.ln2 = ln2; self.mlp = mlp
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + attn(ln1(x))
        return h + mlp(ln2(h))
    }

    public func namedParameters() -> [(String, Tensor)] {
        named("ln_1", ln1) + named("attn", attn) + named("ln_2", ln2) + named("mlp", mlp)
    }
}

/// nanoGPT's GPT: token + position embeddings, blocks, final layer norm, and an LM head tied
/// to the token embedding (`lm_head.weight` is `transformer.wte.weight`).
public final class GPT: Module {
    public let config: GPTConfig
    public let wte: Embedding
    public let wpe: Embedding
    public let blocks: [Block]
    public let lnF: LayerNorm
    public let drop: DropoutState
    /// True when the MLP activation was swapped (it may mix along time: no KV-cache decoding).
    public let hasCustomActivation: Bool

    /// The standard model. `makeAttention`/`activation` let a paper swap the token mixer or
    /// the MLP activation while keeping everything else (and the parameter names) identical.
    public init(_ config: GPTConfig, seed: UInt64,
                makeAttention: ((GPTConfig, DropoutState, inout RNG) -> SequenceLayer)? = nil,
                activation: ((Tensor) -> Tensor)? = nil) {
        self.config = config
        hasCustomActivation = activation != nil
        var rng = RNG(seed: seed)
        let drop = DropoutState(seed: seed &+ 0x5EED)
        self.drop = drop
        wte = Embedding(config.vocabSize, config.nEmbd, rng: &rng)
        wpe = Embedding(config.blockSize, config.nEmbd, rng: &rng)
        var blocks: [Block] = []
        for _ in 0..<config.nLayer {
            let ln1 = LayerNorm(config.nEmbd, bias: config.bias)
            let attn = makeAttention?(config, drop, &rng) ?? CausalSelfAttention(config, drop: drop, rng: &rng)
            let ln2 = LayerNorm(config.nEmbd, bias: config.bias)
            let mlp = activation.map { MLP(config, drop: drop, rng: &rng, activation: $0) } ?? MLP(config, drop: drop, rng: &rng)
            blocks.append(Block(ln1: ln1, attn: attn, ln2: ln2, mlp: mlp))
        }
        self.blocks = blocks
        lnF = LayerNorm(config.nEmbd, bias: config.bias)
    }

    /// Logits (B, T, V) for token ids `idx` of shape (B, T).
    public func callAsFunction(_ idx: [Int32], batch: Int, time: Int) -> Tensor {
        precondition(time <= config.blockSize, "sequence of length \(time) exceeds block size \(config.blockSize)")
        let tok = wte(idx, shape: [batch, time])                                        // (B, T, C)
        let pos = wpe((0..<Int32(time)).map { $0 }, shape: [time])                      // (T, C)
        var x = drop(tok + pos, p: config.dropout)
        for block in blocks { x = block(x) }
        return matmul(lnF(x), wte.weight, transposeB: true)                             // (B, T, V)
    }

    /// Mean cross-entropy of next-token prediction.
    public func loss(_ idx: [Int32], targets: [Int32], batch: Int, time: Int) -> Tensor {
        crossEntropy(self(idx, batch: batch, time: time), targets: targets)
    }

    /// Named intermediate tensors of one forward pass, for inspection (activations.h5):
    /// the embedding sum, each block's output and attention weights, ln_f and the logits.
    public func activations(_ idx: [Int32], batch: Int, time: Int) -> [(String, Tensor)] {
        let wasTraining = training
        training = false
        defer { training = wasTraining }
        return noGrad {
            var out: [(String, Tensor)] = []
            var x = wte(idx, shape: [batch, time]) + wpe((0..<Int32(time)).map { $0 }, shape: [time])
            out.append(("embedding", x))
            for (i, block) in blocks.enumerated() {
                if let attn = block.attn as? CausalSelfAttention {
                    out.append(("transformer.h.\(i).attn.weights", attn.attentionWeights(block.ln1(x))))
                }
                x = block(x)
                out.append(("transformer.h.\(i)", x))
            }
            let h = lnF(x)
            out.append(("transformer.ln_f", h))
            out.append(("logits", matmul(h, wte.weight, transposeB: true)))
            return out
        }
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = named("transformer.wte", wte) + named("transformer.wpe", wpe)
        for (i, b) in blocks.enumerated() { p += named("transformer.h.\(i)", b) }
        return p + named("transformer.ln_f", lnF) + [("lm_head.weight", wte.weight)]
    }

    /// Parameters without the position embedding: the count nanoGPT prints.
    public var nonEmbeddingParameterCount: Int { parameterCount - wpe.weight.count }

    public var training: Bool {
        get { drop.training }
        set { drop.training = newValue }
    }

    /// Sample `count` tokens after `prompt` (temperature 1, optional top-k), cropping the
    /// context to the block size, as nanoGPT's `generate`.
    public func generate(prompt: [Int32], count: Int, temperature: Float = 1, topK: Int? = nil, rng: inout RNG) -> [Int32] {
        var tokens = prompt
        let wasTraining = training
        training = false
        defer { training = wasTraining }
        // With a KV cache while the context fits the block; after that nanoGPT crops the context,
        // every position shifts, and each step re-runs the cropped prefix.
        let cache = supportsKVCache && !prompt.isEmpty ? makeKVCache(batch: 1) : nil
        noGrad {
            for _ in 0..<count {
                let v = config.vocabSize
                let logits: Tensor, lastRow: Int
                if let cache, tokens.count <= config.blockSize {
                    var next: Tensor?   // feeds the prompt on the first step, then one token
                    while cache.length < tokens.count { next = step([tokens[cache.length]], cache: cache) }
                    (logits, lastRow) = (next!, 0)
                } else {
                    let context = Array(tokens.suffix(config.blockSize))
                    (logits, lastRow) = (self(context, batch: 1, time: context.count), context.count - 1)
                }
                var last = (0..<v).map { logits.data[lastRow * v + $0] / temperature }
                if let k = topK, k < v {
                    let cutoff = last.sorted(by: >)[k - 1]
                    last = last.map { $0 < cutoff ? -.infinity : $0 }
                }
                let probs = Tensor(last, shape: [v]).softmax().toArray()
                var u = rng.nextFloat(), choice = v - 1
                for (i, p) in probs.enumerated() { u -= p; if u < 0 { choice = i; break } }
                tokens.append(Int32(choice))
            }
        }
        return tokens
    }
}
