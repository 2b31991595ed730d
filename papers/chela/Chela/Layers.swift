import Foundation
import Replicate

// The four models the paper's claims compare, at one width and depth: a causal Transformer,
// plain linear attention in its cumulative-sum form, a long-convolution-only model and CHELA.
// Every layer maps (B, L, D) → (B, L, D) causally. CHELA's equations are not available
// (../shared/papers/chela.md §2.3): its layer is the notes' reconstruction, MEGA's gated layer
// with the EMA replaced by short → SiLU → long convolutions and softmax by linear attention
// computed chunk by chunk; each unresolved choice is a field of `ModelConfig`.
//
// Dimension legend: B batch, L tokens, D d_model, S z_dim (query/key width), E h_dim (value
// width), F ff_width, H heads (Transformer and linear attention only), K kernel length.

/// Which convolutions a gated layer runs before its projections.
public enum ConvStage: String, Codable, CaseIterable, Sendable {
    /// A long kernel alone, no regulariser (Fu et al. 2023's plain long conv).
    case long
    /// A long kernel alone with the usual regularisers: squash then smooth (safari's LongConvKernel).
    case longRegularised = "long_regularised"
    /// CHELA's short → SiLU → long.
    case shortLong = "short_long"
}

/// φ applied to queries and keys of linear attention.
public enum FeatureMap: String, ConfigChoice {
    case identity, silu
    func apply(_ x: Tensor) -> Tensor { self == .identity ? x : x.silu() }
}

/// Model hyper-parameters; the fields after `layers` are the choices CHELA's text leaves open.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var dModel = 64
    public var zDim = 32
    public var hDim = 128
    public var ffWidth = 128
    public var layers = 2
    /// Heads of the Transformer's softmax attention and of plain linear attention (CHELA and
    /// MEGA are single-head, of width z_dim).
    public var heads = 4
    /// Parallel short-conv branches CHELA trains with (their lengths); merged into one kernel
    /// for inference (structural reparameterisation).
    public var shortKernels = [3, 5]
    /// Rows per chunk of the tiled linear attention.
    public var chunkSize = 64
    public var featureMap = FeatureMap.identity
    /// Linear attention has no softmax denominator here; its output is LayerNorm'd per position
    /// (TransNormer's choice) when true.
    public var attentionNorm = true
    /// The long kernels start N(0, σ²) with this σ (safari's "random" init).
    public var longKernelStd: Float = 0.002
    /// Squash threshold λ and smoothing window of `long-regularised` (safari's LongConvKernel).
    public var squashLambda: Float = 0.001
    public var smoothWindow = 7
    public init() {}

    public func validate(prefix p: String) throws {
        for (k, v) in [("d_model", dModel), ("z_dim", zDim), ("h_dim", hDim), ("ff_width", ffWidth), ("layers", layers), ("heads", heads)] {
            try requireConfig(v >= 1 && v <= 65_536, "\(p).\(k)", v, "must be in 1…65536")
        }
        try requireConfig(dModel % heads == 0, "\(p).d_model", dModel, "must be a multiple of heads (\(heads))")
        try requireConfig(!shortKernels.isEmpty && shortKernels.allSatisfy { $0 >= 1 && $0 <= 64 }, "\(p).short_kernels", shortKernels,
                          "must be one or more kernel lengths in 1…64")
        try requireConfig(chunkSize >= 1, "\(p).chunk_size", chunkSize, "must be at least 1")
        try requireConfig(chunkSize <= 1_048_576, "\(p).chunk_size", chunkSize, "must be at most 1048576")
        try requireConfig(longKernelStd > 0 && longKernelStd <= 10, "\(p).long_kernel_std", longKernelStd, "must be in (0, 10]")
        try requireConfig(squashLambda >= 0 && squashLambda <= 10, "\(p).squash_lambda", squashLambda, "must be in [0, 10]")
        try requireConfig(smoothWindow >= 1 && smoothWindow <= 1023 && smoothWindow % 2 == 1, "\(p).smooth_window", smoothWindow, "must be odd, in 1…1023")
    }
}

// MARK: - Convolutions

/// Depthwise causal convolutions over D channels: optionally short branches (summed, one bias)
/// then SiLU, then a long kernel plus a per-channel skip (y = k ∗ h + s ⊙ h, as MEGA's EMA and
/// safari's long conv add D·u). Kernels are lag-indexed (`causalShortConv`).
public final class ConvModule: Module {
    public let stage: ConvStage
    public let shortKernels: [Tensor]     // (D, K_i)
    public let shortBias: Tensor?         // (D)
    public let longKernel: Tensor         // (D, maxLength)
    public let skip: Tensor               // (D)
    let squashLambda: Float, smoothWindow: Int

    public init(channels d: Int, maxLength: Int, stage: ConvStage, config c: ModelConfig, rng: inout RNG) {
        self.stage = stage
        squashLambda = c.squashLambda; smoothWindow = c.smoothWindow
        if stage == .shortLong {
            // PyTorch's Conv1d default: U(−1/√fan_in, 1/√fan_in), fan_in = K for a depthwise conv.
            shortKernels = c.shortKernels.map { k in
                let bound = 1 / Float(k).squareRoot()
                return Tensor.uniform([d, k], low: -bound, high: bound, rng: &rng, requiresGrad: true)
            }
            shortBias = Tensor.zeros([d], requiresGrad: true)
        } else {
            shortKernels = []; shortBias = nil
        }
        longKernel = Tensor.randn([d, maxLength], std: c.longKernelStd, rng: &rng, requiresGrad: true)
        skip = Tensor.ones([d], requiresGrad: true)
    }

    /// A stage with given tensors (the merged inference form).
    init(stage: ConvStage, shortKernels: [Tensor], shortBias: Tensor?, longKernel: Tensor, skip: Tensor) {
        self.stage = stage; self.shortKernels = shortKernels; self.shortBias = shortBias
        self.longKernel = longKernel; self.skip = skip; squashLambda = 0; smoothWindow = 1
    }

    /// The long kernel the convolution uses: squashed, sign(k)·max(|k| − λ, 0), then averaged
    /// over `smooth_window` lags (zero-padded, divided by the window: avg_pool1d's default) for
    /// `long-regularised`; as stored otherwise. Over the full stored length, then sliced to L.
    public func effectiveLongKernel(_ l: Int) -> Tensor {
        var k = longKernel
        if stage == .longRegularised {
            k = (k - squashLambda).relu() - (-k - squashLambda).relu()
            if smoothWindow > 1 { k = matmul(k, smoothingMatrix(k.shape[1], window: smoothWindow)) }
        }
        return k.shape[1] == l ? k : k.slice(axis: 1, 0..<l)
    }

    /// The short branches' output before SiLU: Σ_i conv(x, k_i) + bias.
    public func shortConv(_ x: Tensor) -> Tensor {
        var h = causalShortConv(x, kernel: shortKernels[0], bias: shortBias)
        for k in shortKernels.dropFirst() { h = h + causalShortConv(x, kernel: k) }
        return h
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = shortKernels.isEmpty ? x : shortConv(x).silu()
        return causalLongConv(h, kernel: effectiveLongKernel(x.shape[1])) + h * skip
    }

    /// Structural reparameterisation: the short branches become one kernel (their zero-padded
    /// sum), and the long kernel absorbs its regularisers and the skip (a lag-0 tap), so inference
    /// runs one short and one long convolution and nothing else. Same outputs up to float32
    /// rounding (the merged sums are formed in another order).
    public func merged() -> ConvModule {
        let long = noGrad { effectiveLongKernel(longKernel.shape[1]) }.toArray()
        let (d, n) = (longKernel.shape[0], longKernel.shape[1])
        var folded = long
        for c in 0..<d { folded[c * n] += skip.data[c] }
        let short = shortKernels.isEmpty ? [] : [mergeCausalKernels(shortKernels)]
        return ConvModule(stage: shortKernels.isEmpty ? .long : .shortLong, shortKernels: short, shortBias: shortBias,
                          longKernel: Tensor(folded, shape: [d, n]), skip: Tensor.zeros([d]))
    }

    public func namedParameters() -> [(String, Tensor)] {
        shortKernels.enumerated().map { ("short.\($0.offset).kernel", $0.element) } + (shortBias.map { [("short_bias", $0)] } ?? [])
            + [("long.kernel", longKernel), ("long.skip", skip)]
    }
}

/// P (n, n) with P[i, j] = 1/w for |i − j| ≤ w/2: k·P averages each lag's neighbourhood.
func smoothingMatrix(_ n: Int, window w: Int) -> Tensor {
    var p = [Float](repeating: 0, count: n * n)
    for i in 0..<n { for j in Swift.max(0, i - w / 2)...Swift.min(n - 1, i + w / 2) { p[i * n + j] = 1 / Float(w) } }
    return Tensor(p, shape: [n, n])
}

// MARK: - Layers

public protocol SequenceBlock: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// The FFN sub-layer every block ends with: x + W₂·SiLU(W₁·LN(x)) (MEGA's normalised FFN, prenorm).
public final class FeedForward: Module {
    public let norm: LayerNorm, up: Linear, down: Linear
    init(_ d: Int, _ f: Int, rng: inout RNG) {
        norm = LayerNorm(d, bias: true); up = Linear(d, f, bias: true, rng: &rng); down = Linear(f, d, bias: true, rng: &rng)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { x + down(up(norm(x)).silu()) }
    public func namedParameters() -> [(String, Tensor)] { named("norm", norm) + named("up", up) + named("down", down) }
}

/// How linear attention is evaluated: the same numbers either way (up to rounding).
public enum LinearForm: String, Codable, Sendable {
    /// S_t = Σ_{s≤t} k_s v_sᵀ materialised for every t (B·L·d·dv numbers): the memory-heavy form.
    case cumsum
    /// `causalLinearAttention`: C×C blocks and one d×dv state.
    case chunked
}

/// o_t = Σ_{s≤t} (q_t·k_s) v_s written with cumulative sums: (B, L, d), (B, L, d), (B, L, dv) → (B, L, dv).
public func cumsumLinearAttention(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
    let (b, l, d, dv) = (q.shape[0], q.shape[1], q.shape[2], v.shape[2])
    let states = (k.reshape([b, l, d, 1]) * v.reshape([b, l, 1, dv])).cumsum(axis: 1)       // (B, L, d, dv)
    return (q.reshape([b, l, d, 1]) * states).sum(axis: 2)
}

/// A pre-norm attention block: x + W_o·attn(LN(x)), then the FFN. Softmax (multi-head,
/// `causalSelfAttention`) or linear attention per head with φ and an optional output LayerNorm.
public final class AttentionBlock: SequenceBlock {
    public enum Kind: Sendable { case softmax, linear(LinearForm) }
    public let kind: Kind
    public let norm: LayerNorm, qkv: Linear, out: Linear, attentionNorm: LayerNorm?, ffn: FeedForward
    let heads: Int, featureMap: FeatureMap, chunkSize: Int

    public init(_ kind: Kind, config c: ModelConfig, rng: inout RNG) {
        self.kind = kind
        heads = c.heads; featureMap = c.featureMap; chunkSize = c.chunkSize
        norm = LayerNorm(c.dModel, bias: true)
        qkv = Linear(c.dModel, 3 * c.dModel, bias: true, rng: &rng)
        out = Linear(c.dModel, c.dModel, bias: true, rng: &rng)
        if case .linear = kind, c.attentionNorm { attentionNorm = LayerNorm(c.dModel, bias: true) } else { attentionNorm = nil }
        ffn = FeedForward(c.dModel, c.ffWidth, rng: &rng)
    }

    public func mix(_ x: Tensor) -> Tensor {
        let p = qkv(norm(x))
        switch kind {
        case .softmax: return causalSelfAttention(p, heads: heads)
        case .linear(let form):
            let (b, l, c) = (x.shape[0], x.shape[1], x.shape[2]), h = heads, d = c / heads
            func split(_ i: Int) -> Tensor { p.slice(axis: 2, (i * c)..<((i + 1) * c)).reshape([b, l, h, d]).permute([0, 2, 1, 3]).reshape([b * h, l, d]) }
            let q = featureMap.apply(split(0)), k = featureMap.apply(split(1)), v = split(2)
            let o = form == .cumsum ? cumsumLinearAttention(q: q, k: k, v: v) : causalLinearAttention(q: q, k: k, v: v, chunkSize: chunkSize)
            let merged = o.reshape([b, h, l, d]).permute([0, 2, 1, 3]).reshape([b, l, c])
            return attentionNorm.map { $0(merged) } ?? merged
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { ffn(x + out(mix(x))) }

    public func namedParameters() -> [(String, Tensor)] {
        named("norm", norm) + named("qkv", qkv) + named("out", out) + (attentionNorm.map { named("attention_norm", $0) } ?? []) + named("ffn", ffn)
    }
}

/// MEGA's gated layer (notes §2.2) with CHELA's substitutions (§2.3):
///   x̂ = LN(x);  V = SiLU(x̂W_v + b_v) (E);  x' = conv(x̂) (short → SiLU → long, D)
///   [u | Z | R | h] = x'W_mx + b_mx (D | S | E | D);  u = σ(u);  Z, R = SiLU(·)
///   Q = Z⊙γ₀ + β₀,  K = Z⊙γ₁ + β₁;  A = LN(linear-attention(φ(Q), φ(K), V)) (E, chunked)
///   H = SiLU(h + (A⊙R)W_h);  y = x + u⊙(H − x);  then the FFN.
/// Without attention (the long-conv-only model) the attention stream is absent: [u | h] = x'W_mx
/// and H = SiLU(h).
public final class GatedConvBlock: SequenceBlock {
    public let norm: LayerNorm, conv: ConvModule, mx: Linear, ffn: FeedForward
    public let value: Linear?, gamma: Tensor?, beta: Tensor?, hProj: Linear?, attentionNorm: LayerNorm?
    let dModel: Int, zDim: Int, hDim: Int, chunkSize: Int, featureMap: FeatureMap
    public var linearForm = LinearForm.chunked
    public var hasAttention: Bool { value != nil }

    public init(attention: Bool, stage: ConvStage, maxLength: Int, config c: ModelConfig, rng: inout RNG) {
        dModel = c.dModel; zDim = c.zDim; hDim = c.hDim; chunkSize = c.chunkSize; featureMap = c.featureMap
        norm = LayerNorm(c.dModel, bias: true)
        value = attention ? Linear(c.dModel, c.hDim, bias: true, rng: &rng) : nil
        conv = ConvModule(channels: c.dModel, maxLength: maxLength, stage: stage, config: c, rng: &rng)
        mx = Linear(c.dModel, attention ? 2 * c.dModel + c.zDim + c.hDim : 2 * c.dModel, bias: true, rng: &rng)
        if attention {
            // MEGA's init: γ ~ N(0, 0.02²), β = 0.
            gamma = Tensor.randn([2, c.zDim], std: 0.02, rng: &rng, requiresGrad: true)
            beta = Tensor.zeros([2, c.zDim], requiresGrad: true)
            hProj = Linear(c.hDim, c.dModel, bias: true, rng: &rng)
            attentionNorm = c.attentionNorm ? LayerNorm(c.hDim, bias: true) : nil
        } else {
            gamma = nil; beta = nil; hProj = nil; attentionNorm = nil
        }
        ffn = FeedForward(c.dModel, c.ffWidth, rng: &rng)
    }

    /// The same layer with `conv` replaced (the merged inference form); every other tensor shared.
    init(_ other: GatedConvBlock, conv: ConvModule) {
        norm = other.norm; self.conv = conv; mx = other.mx; ffn = other.ffn; value = other.value; gamma = other.gamma
        beta = other.beta; hProj = other.hProj; attentionNorm = other.attentionNorm
        dModel = other.dModel; zDim = other.zDim; hDim = other.hDim; chunkSize = other.chunkSize; featureMap = other.featureMap
        linearForm = other.linearForm
    }

    /// Queries, keys (B, L, S) and values (B, L, E) of the attention stream, plus the gates.
    public func streams(_ x: Tensor) -> (u: Tensor, h: Tensor, q: Tensor?, k: Tensor?, v: Tensor?, r: Tensor?) {
        let xn = norm(x)
        let m = mx(conv(xn))
        let d = dModel
        let u = m.slice(axis: 2, 0..<d).sigmoid()
        guard let value, let gamma, let beta else { return (u, m.slice(axis: 2, d..<(2 * d)), nil, nil, nil, nil) }
        let (s, e) = (zDim, hDim)
        let z = m.slice(axis: 2, d..<(d + s)).silu()
        let r = m.slice(axis: 2, (d + s)..<(d + s + e)).silu()
        let h = m.slice(axis: 2, (d + s + e)..<(2 * d + s + e))
        let q = z * gamma.slice(axis: 0, 0..<1).reshape([s]) + beta.slice(axis: 0, 0..<1).reshape([s])
        let k = z * gamma.slice(axis: 0, 1..<2).reshape([s]) + beta.slice(axis: 0, 1..<2).reshape([s])
        return (u, h, featureMap.apply(q), featureMap.apply(k), value(xn).silu(), r)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let st = streams(x)
        var pre = st.h
        if let q = st.q, let k = st.k, let v = st.v, let r = st.r, let hProj {
            let a = linearForm == .chunked ? causalLinearAttention(q: q, k: k, v: v, chunkSize: chunkSize) : cumsumLinearAttention(q: q, k: k, v: v)
            pre = pre + hProj((attentionNorm.map { $0(a) } ?? a) * r)
        }
        let y = x + st.u * (pre.silu() - x)
        return ffn(y)
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = named("norm", norm) + (value.map { named("value", $0) } ?? []) + named("conv", conv) + named("mx", mx)
        if let gamma, let beta, let hProj {
            p += [("gamma", gamma), ("beta", beta)] + named("h_proj", hProj) + (attentionNorm.map { named("attention_norm", $0) } ?? [])
        }
        return p + named("ffn", ffn)
    }
}

// MARK: - Models

/// The four models of the comparison.
public enum ModelKind: String, Codable, CaseIterable, Sendable {
    case transformer, linear, longconv, chela

    public var title: String {
        switch self {
        case .transformer: return "Transformer (softmax)"
        case .linear: return "linear attention (cumsum)"
        case .longconv: return "long conv only"
        case .chela: return "CHELA"
        }
    }
}

/// Token embedding (+ sinusoidal positions for the two attention-only models, which have no other
/// sense of order), a stack of blocks, a final LayerNorm and a linear head.
public final class SequenceModel: Trainable {
    public let kind: ModelKind
    public let embedding: Embedding
    public let blocks: [SequenceBlock]
    public let finalNorm: LayerNorm
    public let head: Linear
    public let positions: Bool
    public var training = true
    public var randomStreams: [String: RNG] = [:]      // no dropout

    public init(kind: ModelKind, vocab: Int, outputs: Int, maxLength: Int, config c: ModelConfig, stage: ConvStage = .shortLong, seed: UInt64) {
        var rng = RNG(seed: seed)
        self.kind = kind
        embedding = Embedding(vocab, c.dModel, rng: &rng)
        positions = kind == .transformer || kind == .linear
        blocks = (0..<c.layers).map { _ -> SequenceBlock in
            switch kind {
            case .transformer: return AttentionBlock(.softmax, config: c, rng: &rng)
            case .linear: return AttentionBlock(.linear(.cumsum), config: c, rng: &rng)
            case .longconv: return GatedConvBlock(attention: false, stage: stage, maxLength: maxLength, config: c, rng: &rng)
            case .chela: return GatedConvBlock(attention: true, stage: stage, maxLength: maxLength, config: c, rng: &rng)
            }
        }
        finalNorm = LayerNorm(c.dModel, bias: true)
        head = Linear(c.dModel, outputs, bias: true, rng: &rng)
    }

    init(_ other: SequenceModel, blocks: [SequenceBlock]) {
        kind = other.kind; embedding = other.embedding; self.blocks = blocks; finalNorm = other.finalNorm
        head = other.head; positions = other.positions
    }

    /// The inference form: every gated block's convolutions merged (`ConvModule.merged`).
    public func reparameterised() -> SequenceModel {
        SequenceModel(self, blocks: blocks.map { b in (b as? GatedConvBlock).map { GatedConvBlock($0, conv: $0.conv.merged()) } ?? b })
    }

    /// The first block's input (B, L, D).
    public func embed(_ tokens: [Int32], batch: Int, length: Int) -> Tensor {
        let e = embedding(tokens, shape: [batch, length])
        return positions ? e + sinusoidalPositions(length, embedding.weight.shape[1]) : e
    }

    /// Final hidden states (B, L, D).
    public func hidden(_ tokens: [Int32], batch: Int, length: Int) -> Tensor {
        var h = embed(tokens, batch: batch, length: length)
        for b in blocks { h = b(h) }
        return finalNorm(h)
    }

    /// Sequence classification: the head on the mean of each sequence's real positions (MEGA's
    /// `mp` sentence representation); padding comes after them, so causal blocks never see it.
    public func classify(_ s: SequenceSet) -> Tensor {
        let h = hidden(s.tokens, batch: s.count, length: s.width)
        var w = [Float](repeating: 0, count: s.count * s.width)
        for (i, n) in s.lengths.enumerated() { for t in 0..<n { w[i * s.width + t] = 1 / Float(n) } }
        return head((h * Tensor(w, shape: [s.count, s.width, 1])).sum(axis: 1))
    }

    /// Recall: the head at every position that has a target, (count, outputs), with those targets.
    public func recallLogits(_ s: SequenceSet) -> (logits: Tensor, targets: [Int32]) {
        let h = hidden(s.tokens, batch: s.count, length: s.width)
        let rows = s.labels.indices.filter { s.labels[$0] >= 0 }
        let picked = TensorCore.embedding(rows.map { Int32($0) }, shape: [rows.count], weight: h.reshape([s.count * s.width, h.shape[2]]))
        return (head(picked), rows.map { s.labels[$0] })
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = named("embedding", embedding)
        for (i, b) in blocks.enumerated() { p += named("blocks.\(i)", b) }
        return p + named("final_norm", finalNorm) + named("head", head)
    }
}
