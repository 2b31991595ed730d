import Foundation
import TensorCore

/// AdamW with PyTorch's semantics (`torch.optim.AdamW`, single-tensor path): bias correction
/// on, decoupled weight decay p ← p·(1 − lr·wd) applied before the moment update.
/// NOTE: MLX Swift's AdamW defaults to no bias correction; we follow PyTorch because the
/// reference models are PyTorch's.
public final class AdamW {
    public struct Group {
        public var params: [(String, Tensor)]
        public var weightDecay: Double
        public init(params: [(String, Tensor)], weightDecay: Double) { self.params = params; self.weightDecay = weightDecay }
    }

    public let groups: [Group]
    /// Hyper-parameters in Double, as the Python floats PyTorch keeps them in.
    public var lr: Double
    public let beta1: Double, beta2: Double, eps: Double
    public private(set) var step = 0
    /// First and second moments, keyed by parameter name (the names used in checkpoints).
    public private(set) var expAvg: [String: Tensor] = [:]
    public private(set) var expAvgSq: [String: Tensor] = [:]

    public init(groups: [Group], lr: Double, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        self.groups = groups
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        for g in groups { for (name, p) in g.params { expAvg[name] = .zeros(p.shape); expAvgSq[name] = .zeros(p.shape) } }
    }

    /// nanoGPT's `configure_optimizers`: weight decay on every tensor with ≥ 2 dimensions
    /// (matmul weights, embeddings), none on biases and layer-norm gains.
    public convenience init(_ model: Module, lr: Double, weightDecay: Double, beta1: Double = 0.9, beta2: Double = 0.99, eps: Double = 1e-8) {
        let named = model.uniqueNamedParameters()
        self.init(groups: [Group(params: named.filter { $0.1.rank >= 2 }, weightDecay: weightDecay),
                           Group(params: named.filter { $0.1.rank < 2 }, weightDecay: 0)],
                  lr: lr, beta1: beta1, beta2: beta2, eps: eps)
    }

    /// One update from the parameters' current `.grad` (parameters without a grad are skipped,
    /// as in PyTorch).
    public func update() {
        step += 1
        // Scalars are computed in double and rounded to float where PyTorch's float32 kernels
        // receive them, so the arithmetic matches `torch.optim.AdamW(foreach=False)`.
        let bc1 = 1 - pow(beta1, Double(step))
        let bc2Sqrt = Float((1 - pow(beta2, Double(step))).squareRoot())
        let stepSize = Float(lr / bc1)
        let eps = Float(eps), w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2)
        // Every parameter with a gradient, laid end to end and cut evenly over the threads:
        // most tensors here are far too small to be worth splitting one at a time.
        var work: [(step: AdamWStep, p: Tensor, g: Tensor, m: Tensor, v: Tensor)] = []
        for group in groups {
            let decay: Float? = group.weightDecay != 0 ? Float(1 - lr * group.weightDecay) : nil
            let step = AdamWStep(decay: decay, w1: w1, beta2: b2, w2: w2, stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: eps)
            for (name, p) in group.params {
                guard let grad = p.grad else { continue }
                work.append((step, p, grad, expAvg[name]!, expAvgSq[name]!))
            }
        }
        let lengths = work.map { $0.p.count }
        Parallel.forEachSegmentPiece(lengths, chunks: Parallel.segmentChunkCount(lengths)) { _, s, r in
            let w = work[s], o = r.lowerBound
            w.step.apply(p: w.p.data + o, m: w.m.data + o, v: w.v.data + o, g: w.g.data + o, count: r.count)
        }
    }

    /// Restore moments and step (from a checkpoint).
    public func restore(step: Int, expAvg: [String: [Float]], expAvgSq: [String: [Float]]) throws {
        for (name, t) in self.expAvg {
            guard let a = expAvg[name], let b = expAvgSq[name], a.count == t.count, b.count == t.count else {
                throw StateDictError.missingKey("optimizer state for \(name)")
            }
            t.assign(a)
            self.expAvgSq[name]!.assign(b)
        }
        self.step = step
    }
}

/// Scale all gradients so their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` (coefficient maxNorm/(norm + 1e-6), clamped to 1).
/// Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float) -> Float {
    let grads = params.compactMap(\.grad)
    let lengths = grads.map(\.count)
    // Per-chunk sums in double, added in chunk order: fixed for a given thread count.
    let chunks = Parallel.segmentChunkCount(lengths)
    var partial = [Double](repeating: 0, count: chunks)
    partial.withUnsafeMutableBufferPointer { acc in
        let acc = acc.baseAddress!
        Parallel.forEachSegmentPiece(lengths, chunks: chunks) { c, s, r in acc[c] += sumOfSquaresDouble(grads[s].data + r.lowerBound, r.count) }
    }
    let norm = Float(partial.reduce(0, +).squareRoot())
    let coef = Swift.min(maxNorm / (norm + 1e-6), 1)
    Parallel.forEachSegmentPiece(lengths, chunks: chunks) { _, s, r in scaleInPlace(grads[s].data + r.lowerBound, r.count, by: coef) }
    return norm
}

/// nanoGPT's learning rate: linear warmup over `warmupIters` (lr·(it+1)/(warmup+1)), cosine
/// decay to `minLR` at `decayIters`, `minLR` after.
public struct CosineSchedule: Codable, Equatable, Sendable {
    public var maxLR: Double, minLR: Double
    public var warmupIters: Int, decayIters: Int

    public init(maxLR: Double, minLR: Double, warmupIters: Int, decayIters: Int) {
        self.maxLR = maxLR; self.minLR = minLR; self.warmupIters = warmupIters; self.decayIters = decayIters
    }

    public func lr(at it: Int) -> Double {
        if it < warmupIters { return maxLR * Double(it + 1) / Double(warmupIters + 1) }
        if it > decayIters { return minLR }
        let ratio = Double(it - warmupIters) / Double(decayIters - warmupIters)
        let coeff = 0.5 * (1 + cos(Double.pi * ratio))
        return minLR + coeff * (maxLR - minLR)
    }
}
