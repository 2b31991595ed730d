import Foundation
import TensorCore

/// y = x·Wᵀ + b, weight (out, in) as `torch.nn.Linear`.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    /// Weights N(0, std²) as nanoGPT's `_init_weights`; biases zero.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool, std: Float = 0.02, rng: inout RNG) {
        weight = Tensor.randn([outFeatures, inFeatures], std: std, rng: &rng, requiresGrad: true)
        self.bias = bias ? Tensor.zeros([outFeatures], requiresGrad: true) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }

    public func namedParameters() -> [(String, Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// A lookup table of `count` vectors of size `dim`, as `torch.nn.Embedding`.
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dim: Int, std: Float = 0.02, rng: inout RNG) {
        weight = Tensor.randn([count, dim], std: std, rng: &rng, requiresGrad: true)
    }

    public func callAsFunction(_ ids: [Int32], shape: [Int]) -> Tensor { embedding(ids, shape: shape, weight: weight) }

    public func namedParameters() -> [(String, Tensor)] { [("weight", weight)] }
}

/// Layer norm with an optional bias, as nanoGPT's `LayerNorm(ndim, bias)`.
public final class LayerNorm: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ dim: Int, bias: Bool) {
        weight = Tensor.ones([dim], requiresGrad: true)
        self.bias = bias ? Tensor.zeros([dim], requiresGrad: true) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias) }

    public func namedParameters() -> [(String, Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// Fixed sinusoidal positions (N, C) as in "Attention is all you need": sin at even channels,
/// cos at odd ones, wavelengths 2π…10000·2π. No parameters.
public func sinusoidalPositions(_ n: Int, _ c: Int) -> Tensor {
    var p = [Float](repeating: 0, count: n * c)
    for t in 0..<n {
        for i in stride(from: 0, to: c, by: 2) {
            let angle = Double(t) / Foundation.pow(10000, Double(i) / Double(c))
            p[t * c + i] = Float(Foundation.sin(angle))
            if i + 1 < c { p[t * c + i + 1] = Float(Foundation.cos(angle)) }
        }
    }
    return Tensor(p, shape: [n, c])
}
