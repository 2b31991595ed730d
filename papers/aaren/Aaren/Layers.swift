import Foundation
import Replicate

// The two layers the paper compares, with the same interface (B, N, C) → (B, N, C), the same
// residual, post-LayerNorm and FFN (Time-Series-Library's EncoderLayer), and the same parameters
// except Aaren's learned query token (C numbers per layer: "learning an initial hidden state q").
//
// Dimension legend: B batch, N tokens, C d_model, H heads, D = C/H head width, F d_ff.

/// The sub-layers both kinds share: the fused Q/K/V projection (Aaren projects its learned token
/// with W_q), attention's output projection, two LayerNorms, the FFN.
public final class EncoderLayerParts: Module {
    public let qkv: Linear, out: Linear, norm1: LayerNorm, norm2: LayerNorm, ff1: Linear, ff2: Linear
    public let heads: Int
    init(_ c: Int, heads: Int, _ f: Int, rng: inout RNG) {
        precondition(c % heads == 0, "d_model must be divisible by heads")
        self.heads = heads
        qkv = Linear(c, 3 * c, bias: true, rng: &rng)
        out = Linear(c, c, bias: true, rng: &rng)
        norm1 = LayerNorm(c, bias: true)
        ff1 = Linear(c, f, bias: true, rng: &rng)
        ff2 = Linear(f, c, bias: true, rng: &rng)
        norm2 = LayerNorm(c, bias: true)
    }

    /// norm2(h + FFN(h)) with h = norm1(x + out(mixed)): TSL's post-norm EncoderLayer.
    func finish(_ x: Tensor, mixed: Tensor) -> Tensor {
        let h = norm1(x + out(mixed))
        return norm2(h + ff2(ff1(h).gelu()))
    }

    public func namedParameters() -> [(String, Tensor)] {
        named("qkv", qkv) + named("out_proj", out) + named("norm1", norm1) + named("ff1", ff1) + named("ff2", ff2) + named("norm2", norm2)
    }
}

/// A layer of either kind, stackable: a causal map from N inputs to N outputs.
public protocol CausalLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Causal multi-head softmax self-attention + `EncoderLayerParts`.
public final class TransformerLayer: CausalLayer {
    public let parts: EncoderLayerParts
    public var qkv: Linear { parts.qkv }
    public var heads: Int { parts.heads }

    public init(dModel c: Int, heads: Int, ffWidth f: Int, rng: inout RNG) {
        parts = EncoderLayerParts(c, heads: heads, f, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { parts.finish(x, mixed: causalSelfAttention(qkv(x), heads: heads)) }
    public func namedParameters() -> [(String, Tensor)] { parts.namedParameters() }
}

/// Aaren: o_k = softmax over i ≤ k of q·k_i/√D applied to v_i, per head, with q = W_q·q₀ for a
/// learned token q₀ (C) per layer; the prefixes come from `prefixAttention`'s scan.
public final class AarenLayer: CausalLayer {
    public let queryToken: Tensor          // q₀ (C): the RNN's learned initial hidden state
    public let parts: EncoderLayerParts    // W_q is kept: the learned token is projected like an input
    public var qkv: Linear { parts.qkv }
    public var heads: Int { parts.heads }

    public init(dModel c: Int, heads: Int, ffWidth f: Int, rng: inout RNG) {
        parts = EncoderLayerParts(c, heads: heads, f, rng: &rng)
        queryToken = Tensor.randn([c], std: 1, rng: &rng, requiresGrad: true)
    }

    /// The query per head, W_q·q₀ + b_q divided by √D: (H, D). The same for every position.
    public func scaledQuery() -> Tensor {
        let c = queryToken.count, d = c / heads
        let q = linear(queryToken.reshape([1, c]), weight: qkv.weight.slice(axis: 0, 0..<c), bias: qkv.bias!.slice(axis: 0, 0..<c))
        return q.reshape([heads, d]) * (1 / Float(d).squareRoot())
    }

    /// W_k and W_v with their biases, the rows of the fused projection after W_q: (2C, C) and (2C).
    public func keyValueProjection() -> (weight: Tensor, bias: Tensor) {
        let c = queryToken.count
        return (qkv.weight.slice(axis: 0, c..<(3 * c)), qkv.bias!.slice(axis: 0, c..<(3 * c)))
    }

    /// Scores (B·H, N) and values (B·H, N, D) of the scan, for x (B, N, C).
    public func scoresAndValues(_ x: Tensor) -> (scores: Tensor, values: Tensor) {
        let (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]), d = c / heads
        let p = keyValueProjection()
        let kv = linear(x, weight: p.weight, bias: p.bias)                                                          // (B, N, 2C)
        let k = kv.slice(axis: 2, 0..<c).reshape([b, n, heads, d])
        let v = kv.slice(axis: 2, c..<(2 * c)).reshape([b, n, heads, d])
        let scores = (k * scaledQuery()).sum(axis: 3)                                                              // (B, N, H)
        return (scores.permute([0, 2, 1]).reshape([b * heads, n]), v.permute([0, 2, 1, 3]).reshape([b * heads, n, d]))
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, n, c) = (x.shape[0], x.shape[1], x.shape[2])
        let (s, v) = scoresAndValues(x)
        let o = prefixAttention(scores: s, values: v).reshape([b, heads, n, c / heads]).permute([0, 2, 1, 3]).reshape([b, n, c])
        return parts.finish(x, mixed: o)
    }

    public func namedParameters() -> [(String, Tensor)] { [("query_token", queryToken)] + parts.namedParameters() }
}

/// Which layer a model stacks.
public enum LayerKind: String, Codable, CaseIterable, Sendable {
    case transformer, aaren

    public func make(dModel: Int, heads: Int, ffWidth: Int, rng: inout RNG) -> CausalLayer {
        switch self {
        case .transformer: return TransformerLayer(dModel: dModel, heads: heads, ffWidth: ffWidth, rng: &rng)
        case .aaren: return AarenLayer(dModel: dModel, heads: heads, ffWidth: ffWidth, rng: &rng)
        }
    }
}

/// A stack of causal layers over projected inputs (B, N, channels) → (B, N, C), the backbone of
/// both tasks: classification reads the output at each sequence's last real step, forecasting
/// the output at every step.
public final class SequenceModel: Trainable {
    public let kind: LayerKind
    public let input: Linear
    public let layers: [CausalLayer]
    public let head: Linear
    public var training = true
    public var randomStreams: [String: RNG] = [:]      // no dropout

    public init(kind: LayerKind, channels: Int, outputs: Int, dModel: Int, heads: Int, ffWidth: Int, layers n: Int, seed: UInt64) {
        var rng = RNG(seed: seed)
        self.kind = kind
        input = Linear(channels, dModel, bias: true, rng: &rng)
        layers = (0..<n).map { _ in kind.make(dModel: dModel, heads: heads, ffWidth: ffWidth, rng: &rng) }
        head = Linear(dModel, outputs, bias: true, rng: &rng)
    }

    /// The first layer's input (B, N, C): projected inputs plus positions.
    public func embed(_ x: Tensor) -> Tensor { input(x) + sinusoidalPositions(x.shape[1], input.weight.shape[0]) }

    /// Hidden states (B, N, C) for inputs (B, N, channels).
    public func hidden(_ x: Tensor) -> Tensor {
        var h = embed(x)
        for layer in layers { h = layer(h) }
        return h
    }

    /// Outputs (B, N, outputs) at every step.
    public func callAsFunction(_ x: Tensor) -> Tensor { head(hidden(x)) }

    /// Logits (B, outputs) at each sequence's last real step (`lengths`); the padding after it
    /// cannot reach it (causal layers).
    public func lastStep(_ x: Tensor, lengths: [Int]) -> Tensor {
        let (b, n) = (x.shape[0], x.shape[1])
        var pick = [Float](repeating: 0, count: b * n)
        for (i, len) in lengths.enumerated() { pick[i * n + len - 1] = 1 }
        return head((hidden(x) * Tensor(pick, shape: [b, n, 1])).sum(axis: 1))
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = named("input", input)
        for (i, l) in layers.enumerated() { p += named("layers.\(i)", l) }
        return p + named("head", head)
    }
}
