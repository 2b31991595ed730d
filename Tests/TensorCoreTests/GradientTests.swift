import Testing
import TensorCore

/// Finite-difference checks of every primitive's backward rule (see `gradCheck`).
/// Inputs are kept away from kinks (ties, zero) by more than eps so the difference quotient
/// measures the derivative the rule claims.

private func rand(_ shape: [Int], _ seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

/// Values spaced at least `gap` apart, in random order: max/min/cummax have no ties.
private func distinct(_ shape: [Int], _ seed: UInt64, gap: Float = 0.1) -> Tensor {
    var rng = RNG(seed: seed)
    let n = shape.reduce(1, *)
    var v = (0..<n).map { Float($0) * gap - Float(n) * gap / 2 }
    v.shuffle(using: &rng)
    return Tensor(v, shape: shape)
}

private func expectGrad(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 1e-3, rtol: Double = 1e-2,
                        _ f: @escaping ([Tensor]) -> Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
    let r = gradCheck(inputs, eps: eps, atol: atol, rtol: rtol, f)
    #expect(r.ok, "\(r)", sourceLocation: sourceLocation)
}

@Suite struct GradientTests {
    @Test(arguments: BinaryOp.allCases)
    func binarySameShape(_ op: BinaryOp) {
        let a = rand([3, 5], 1), b = rand([3, 5], 2)
        if op == .div { b.assign(b.toArray().map { $0 >= 0 ? $0 + 1.5 : $0 - 1.5 }) }
        if op == .minimum || op == .maximum {  // keep |a − b| ≥ 0.1 > eps
            b.assign(zip(a.toArray(), b.toArray()).map { abs($0 - $1) < 0.1 ? $0 + 0.3 : $1 })
        }
        expectGrad([a, b]) { binary(op, $0[0], $0[1]) }
    }

    @Test(arguments: BinaryOp.allCases)
    func binaryBroadcast(_ op: BinaryOp) {
        // (2, 3, 4) ∘ (3, 1): broadcast over the leading and the last dimension.
        let a = distinct([2, 3, 4], 3, gap: 0.13), b = rand([3, 1], 4, low: 1.2, high: 2.0)
        expectGrad([a, b]) { binary(op, $0[0], $0[1]) }
        // (4) ∘ (2, 3, 4), broadcast first operand; the right operand
        // has |d| ≥ 1, away from 0 (div) and from every c (min/max ties).
        let c = rand([4], 5, low: -0.5, high: 0.5), d = distinct([2, 3, 4], 6, gap: 0.13)
        d.assign(d.toArray().map { $0 >= 0 ? $0 + 1 : $0 - 1 })
        expectGrad([c, d]) { binary(op, $0[0], $0[1]) }
    }

    @Test(arguments: UnaryOp.allCases)
    func unaryOps(_ op: UnaryOp) {
        let positive = op == .log || op == .sqrt
        let x = positive ? rand([4, 7], 6, low: 0.5, high: 2) : rand([4, 7], 6, low: -2, high: 2)
        if op == .relu { x.assign(x.toArray().map { abs($0) < 0.05 ? $0 + 0.2 : $0 }) }
        expectGrad([x]) { unary(op, $0[0]) }
    }

    @Test func geluOnRaggedLongInput() {   // exercises the 8-lane body and the padded tail
        expectGrad([rand([37], 8, low: -4, high: 4)]) { $0[0].gelu() }
    }

    @Test func sumAndMax() {
        let x = distinct([3, 4, 5], 9)
        for axis in 0..<3 {
            expectGrad([x]) { $0[0].sum(axis: axis) }
            expectGrad([x]) { $0[0].max(axis: axis, keepDims: true) }
        }
        expectGrad([x]) { $0[0].sum() }
    }

    @Test func shapeOps() {
        let x = rand([2, 3, 4], 10)
        expectGrad([x]) { $0[0].reshape([4, -1]) }
        expectGrad([x]) { $0[0].permute([2, 0, 1]) }
        expectGrad([x]) { $0[0].transpose(0, 1) }
        expectGrad([x]) { $0[0].slice(axis: 1, 1..<3) }
        for axis in 0..<3 { expectGrad([x]) { $0[0].shiftedPrevious(axis: axis) } }
        let y = rand([2, 2, 4], 11)
        expectGrad([x, y]) { concat([$0[0], $0[1]], axis: 1) }
    }

    @Test func matmulVariants() {
        expectGrad([rand([2, 3, 5], 12), rand([5, 4], 13)]) { matmul($0[0], $0[1]) }
        expectGrad([rand([2, 3, 5], 14), rand([4, 5], 15)]) { matmul($0[0], $0[1], transposeB: true) }
        expectGrad([rand([2, 3, 5], 16), rand([2, 5, 4], 17)]) { matmul($0[0], $0[1]) }
        expectGrad([rand([2, 3, 5], 18), rand([2, 4, 5], 19)]) { matmul($0[0], $0[1], transposeB: true) }
    }

    @Test func embeddingRows() {
        let w = rand([6, 3], 20)
        expectGrad([w]) { embedding([1, 4, 1, 0, 5], shape: [5], weight: $0[0]) }  // id 1 repeats
    }

    @Test func softmaxFamily() {
        let x = rand([3, 7], 21, low: -3, high: 3)
        expectGrad([x]) { $0[0].softmax() }
        expectGrad([x]) { $0[0].logSoftmax() }
        expectGrad([x]) { crossEntropy($0[0], targets: [2, 6, 0]) }
        expectGrad([x]) { crossEntropy($0[0], targets: [2, -1, 0]) }   // an ignored row
    }

    @Test func layerNormWithAndWithoutAffine() {
        let x = rand([4, 6], 22, low: -2, high: 2), w = rand([6], 23, low: 0.5, high: 1.5), b = rand([6], 24)
        expectGrad([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        expectGrad([x, w]) { layerNorm($0[0], weight: $0[1], bias: nil) }
        expectGrad([x]) { layerNorm($0[0], weight: nil, bias: nil) }
    }

    @Test func fusedCausalAttention() {
        // B 2, T 5, C 6 (2 heads of 3): packed [q | k | v] as nanoGPT's c_attn produces.
        expectGrad([rand([2, 5, 18], 25)]) { causalSelfAttention($0[0], heads: 2) }
        // T 130 ≥ 128: the blocked SGEMM kernel (three row blocks, the last one of two rows).
        expectGrad([rand([1, 130, 12], 26)]) { causalSelfAttention($0[0], heads: 2) }
    }

    /// With infinite keys after position 100 and a loss over positions ≤ 100 only, the queries
    /// of positions ≤ 100 get finite gradients: dq_i sums dS_ij·k_j over j ≤ i only (in the
    /// blocked kernel's diagonal block too), never 0·inf.
    @Test func attentionQueryGradientIgnoresLaterKeys() {
        let t = 150, heads = 2, d = 8, c = heads * d
        var values = rand([1, t, 3 * c], 27).toArray()
        for i in 101..<t { for j in c..<(2 * c) { values[i * 3 * c + j] = .infinity } }
        let x = Tensor(values, shape: [1, t, 3 * c], requiresGrad: true)
        causalSelfAttention(x, heads: heads).slice(axis: 1, 0..<101).sum().backward()
        let g = x.grad!.toArray()
        let dq = (0...100).flatMap { i in g[(i * 3 * c)..<(i * 3 * c + c)] }
        let nonFinite = dq.filter { !$0.isFinite }.count
        #expect(nonFinite == 0, "\(nonFinite) non-finite dq values at positions ≤ 100")
    }

    @Test func depthwiseConvolution() {
        let x = rand([2, 6, 3], 26), w = rand([3, 4], 27)
        expectGrad([x, w]) { causalShortConv($0[0], kernel: $0[1]) }
        expectGrad([x, rand([3, 9], 28)]) { causalShortConv($0[0], kernel: $0[1]) }  // K > T
    }

    @Test func scans() {
        let x = distinct([2, 5, 3], 29, gap: 0.07)
        for axis in 0..<3 {
            expectGrad([x]) { $0[0].cumsum(axis: axis) }
            expectGrad([x]) { $0[0].cummax(axis: axis) }
            expectGrad([x]) { $0[0].logcumsumexp(axis: axis) }
        }
    }

    // MARK: The checker itself must be able to fail.

    @Test func checkerRejectsAWrongRule() {
        // x² whose backward claims dx = x (the factor 2 forgotten).
        func wrongSquare(_ x: Tensor) -> Tensor {
            let out = Tensor(x.toArray().map { $0 * $0 }, shape: x.shape)
            return out.record("wrongSquare", [x]) { out in
                let g = out.grad!.data, gx = x.gradData()
                for i in 0..<x.count { gx[i] += g[i] * x.data[i] }
            }
        }
        let r = gradCheck([rand([5], 30, low: 0.5, high: 1)]) { wrongSquare($0[0]) }
        #expect(!r.ok)
    }

    @Test func checkerFailsWithTooSmallStepInFloat32() {
        // At eps = 1e-5 float32 rounding dominates the difference quotient.
        let r = gradCheck([rand([3, 7], 31, low: -3, high: 3)], eps: 1e-5, atol: 1e-4, rtol: 1e-3) { $0[0].softmax() }
        #expect(!r.ok)
    }
}

/// A tensor used by several ops gets the sum of their gradients. The first rule to reach a
/// tensor may store into a fresh buffer (matmul's β = 0, same-shape add/sub/mul, GELU); every
/// later one must add. Here x and w feed several such ops, in both orders.
@Suite struct GradientAccumulationTests {
    @Test func sharedInputsAccumulateThroughEveryFastPath() {
        let x = rand([2, 3, 4], 40), w = rand([4, 4], 41), y = rand([2, 3, 4], 42)
        expectGrad([x, w, y]) { t in
            let (x, w, y) = (t[0], t[1], t[2])
            let a = matmul(x, w) + matmul(x, w, transposeB: true)   // x and w twice through matmul
            let b = x.gelu() * x - (y - x)                            // gelu, mul, sub on x again
            return a + b * y + matmul(a.gelu(), w)
        }
    }

    /// The same-shape min/max rule and shiftedPrevious store into fresh gradients; here every
    /// input also gets gradient from elsewhere first or later, and min(x, x) selects x twice.
    @Test func minMaxAndShiftAccumulate() {
        // On one 0.1 grid, y half a step off: every x − y is at least 0.05 > eps from a tie.
        let x = distinct([2, 5, 3], 43), y = distinct([2, 5, 3], 44)
        y.assign(y.toArray().map { $0 + 0.05 })
        expectGrad([x, y]) { t in
            let (x, y) = (t[0], t[1])
            let p = minimum(x, y) * y + maximum(y.shiftedPrevious(axis: 1), x) + minimum(x, x)
            return p + x.shiftedPrevious(axis: 1) * x + maximum(x, y.shiftedPrevious(axis: 0))
        }
    }
}
