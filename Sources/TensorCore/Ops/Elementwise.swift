import Foundation

/// Binary element-wise primitives; every one broadcasts.
public enum BinaryOp: String, CaseIterable, Sendable { case add, sub, mul, div, minimum, maximum }

/// Unary element-wise primitives.
public enum UnaryOp: String, CaseIterable, Sendable { case neg, exp, log, tanh, sigmoid, silu, relu, gelu, square, sqrt }

@inline(__always) private func applyBinary(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
    switch op {
    case .add: return x + y
    case .sub: return x - y
    case .mul: return x * y
    case .div: return x / y
    case .minimum, .maximum: return selectsFirst(op == .minimum, x, y) ? x : y
    }
}

/// Whether min (isMin) or max of (x, y) takes x: x ≤ y, or x ≥ y. The one rule of the forward
/// and of the backward (which operand gets the gradient): a NaN in x is dropped, one in y kept,
/// and a tie (±0 too) takes x. See NOTE in `binary`.
@inline(__always) func selectsFirst(_ isMin: Bool, _ x: Float, _ y: Float) -> Bool { isMin ? x <= y : x >= y }

/// `selectsFirst` for eight lanes.
@inline(__always) func selectsFirst8(_ isMin: Bool, _ x: F8, _ y: F8) -> SIMDMask<SIMD8<Int32>> { isMin ? x .<= y : x .>= y }

/// out = a ∘ b with broadcasting.
///
/// NOTE: minimum/maximum route the whole gradient to the selected operand (a sub-gradient);
/// on ties the first operand `a` is selected, as `torch.stack([a, b]).min(0)` would.
public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    let outShape = a.shape == b.shape ? a.shape : broadcastShape(a.shape, b.shape)
    let out = Tensor.empty(outShape)
    let pa = a.data, pb = b.data, po = out.data
    if a.shape == b.shape {
        let n = out.count
        Parallel.forEachChunk(n, grain: 1 << 15) { r in
            switch op {
            case .add: for i in r { po[i] = pa[i] + pb[i] }
            case .sub: for i in r { po[i] = pa[i] - pb[i] }
            case .mul: for i in r { po[i] = pa[i] * pb[i] }
            case .div: for i in r { po[i] = pa[i] / pb[i] }
            case .minimum, .maximum:
                let o = r.lowerBound
                selectMinMax(op == .minimum, pa + o, pb + o, into: po + o, r.count)
            }
        }
    } else {
        let walk = BroadcastWalk([a.shape, b.shape], out: outShape)
        let inner = walk.inner, sa = walk.innerStrides[0], sb = walk.innerStrides[1]
        Parallel.forEachChunk(walk.rows, grain: Swift.max(1, (1 << 15) / Swift.max(inner, 1))) { rows in
            for row in rows {
                let xa = pa + walk.offsets[0][row], xb = pb + walk.offsets[1][row], o = po + row * inner
                switch op {
                case .add: for j in 0..<inner { o[j] = xa[j * sa] + xb[j * sb] }
                case .mul: for j in 0..<inner { o[j] = xa[j * sa] * xb[j * sb] }
                default: for j in 0..<inner { o[j] = applyBinary(op, xa[j * sa], xb[j * sb]) }
                }
            }
        }
    }
    return out.record(op.rawValue, [a, b]) { out in
        let g = out.grad!.data
        let n = out.count
        if a.shape == b.shape && a !== b, op == .add || op == .sub || op == .mul {
            // Same shapes (residual adds, gates): straight into the input grads, storing into
            // fresh ones. Each element is x + y·g or y·g with y = ±1 or the other operand.
            func into(_ t: Tensor, _ other: UnsafePointer<Float>?, sign: Float) {
                let (gt, accumulate) = t.gradBuffer()
                Parallel.forEachChunk(n, grain: 1 << 15) { r in
                    let o = r.lowerBound, gt = gt + o, g = g + o, x = other.map { $0 + o }
                    switch (accumulate, x) {
                    case (true, nil): if sign > 0 { addInto(gt, g, r.count) } else { axpy(-1, g, gt, r.count) }
                    case (false, nil): for i in 0..<r.count { gt[i] = sign * g[i] }
                    case (true, let x?): for i in 0..<r.count { gt[i] += g[i] * x[i] }
                    case (false, let x?): for i in 0..<r.count { gt[i] = g[i] * x[i] }
                    }
                }
            }
            if a.requiresGrad { into(a, op == .mul ? pb : nil, sign: 1) }
            if b.requiresGrad { into(b, op == .mul ? pa : nil, sign: op == .sub ? -1 : 1) }
            return
        }
        if a.shape == b.shape, op == .minimum || op == .maximum {
            // Same shapes (Hilsenbek's causal min/max): the operand the forward selected gets g,
            // the other 0, stored into fresh gradients.
            // One pass writes both gradients (with a === b the second adds to the first).
            let isMin = op == .minimum
            let ga = a.requiresGrad ? a.gradBuffer() : nil, gb = b.requiresGrad ? b.gradBuffer() : nil
            @inline(__always) func put(_ v: F8, _ to: (data: UnsafeMutablePointer<Float>, accumulate: Bool)?, _ i: Int) {
                guard let (p, accumulate) = to else { return }
                store8(accumulate ? load8(p + i) + v : v, p + i)
            }
            Parallel.forEachChunk(n, grain: 1 << 15) { r in
                var i = r.lowerBound
                while i + 8 <= r.upperBound {
                    let x = load8(pa + i), y = load8(pb + i), gi = load8(g + i)
                    let first = selectsFirst8(isMin, x, y)
                    put(F8().replacing(with: gi, where: first), ga, i)
                    put(gi.replacing(with: 0, where: first), gb, i)
                    i += 8
                }
                while i < r.upperBound {
                    let first = selectsFirst(isMin, pa[i], pb[i])
                    if let (p, accumulate) = ga { let v: Float = first ? g[i] : 0; p[i] = accumulate ? p[i] + v : v }
                    if let (p, accumulate) = gb { let v: Float = first ? 0 : g[i]; p[i] = accumulate ? p[i] + v : v }
                    i += 1
                }
            }
            return
        }
        if op == .add || op == .sub {
            // Broadcast add/sub (biases): each input's gradient is ±g summed over its broadcast axes.
            if a.requiresGrad { accumulateReduced(a.gradData(), to: a.shape, g, from: outShape) }
            if b.requiresGrad {
                if op == .add { accumulateReduced(b.gradData(), to: b.shape, g, from: outShape) } else {
                    var neg = [Float](repeating: 0, count: n)
                    for i in 0..<n { neg[i] = -g[i] }
                    neg.withUnsafeBufferPointer { accumulateReduced(b.gradData(), to: b.shape, $0.baseAddress!, from: outShape) }
                }
            }
            return
        }
        // d out / d a and d out / d b, element by element in the output's shape.
        func partials(_ fill: (Int, Float, Float) -> (Float, Float)) -> ([Float], [Float]) {
            var ga = [Float](repeating: 0, count: n), gb = [Float](repeating: 0, count: n)
            if a.shape == b.shape {
                for i in 0..<n { (ga[i], gb[i]) = fill(i, pa[i], pb[i]) }
            } else {
                let walk = BroadcastWalk([a.shape, b.shape], out: outShape)
                let inner = walk.inner, sa = walk.innerStrides[0], sb = walk.innerStrides[1]
                for row in 0..<walk.rows {
                    let xa = pa + walk.offsets[0][row], xb = pb + walk.offsets[1][row]
                    for j in 0..<inner {
                        let i = row * inner + j
                        (ga[i], gb[i]) = fill(i, xa[j * sa], xb[j * sb])
                    }
                }
            }
            return (ga, gb)
        }
        let (ga, gb): ([Float], [Float])
        switch op {
        case .add, .sub: return   // handled above
        case .mul: (ga, gb) = partials { i, x, y in (g[i] * y, g[i] * x) }
        case .div: (ga, gb) = partials { i, x, y in (g[i] / y, -g[i] * x / (y * y)) }
        case .minimum, .maximum:
            let isMin = op == .minimum
            (ga, gb) = partials { i, x, y in selectsFirst(isMin, x, y) ? (g[i], 0) : (0, g[i]) }
        }
        if a.requiresGrad { ga.withUnsafeBufferPointer { accumulateReduced(a.gradData(), to: a.shape, $0.baseAddress!, from: outShape) } }
        if b.requiresGrad { gb.withUnsafeBufferPointer { accumulateReduced(b.gradData(), to: b.shape, $0.baseAddress!, from: outShape) } }
    }
}

/// o = min(a, b) or max(a, b) by `selectsFirst`, eight lanes at a time.
@inline(__always) func selectMinMax(_ isMin: Bool, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                    into o: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let x = load8(a + i), y = load8(b + i)
        store8(y.replacing(with: x, where: selectsFirst8(isMin, x, y)), o + i)
        i += 8
    }
    while i < n { o[i] = applyBinary(isMin ? .minimum : .maximum, a[i], b[i]); i += 1 }
}

/// GELU with the exact erf form, as `torch.nn.GELU()` (nanoGPT's default): x·Φ(x).
/// Where Φ(x) rounds to 0 the product is 0 (not −inf·0 = NaN at x = −inf).
@inline(__always) func gelu8(_ x: F8) -> F8 {
    let cdf2 = F8(repeating: 1) + erf8(x * F8(repeating: 0.70710678118654752))
    return (F8(repeating: 0.5) * x * cdf2).replacing(with: 0, where: cdf2 .== 0)
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x). With u = x/√2, Φ(x) = ½(1 + erf(u)) and
/// φ(x) = e^{−u²}/√(2π): one exponential serves both.
@inline(__always) func geluGrad8(_ x: F8) -> F8 {
    let (p, gauss) = erfTerms8(x * F8(repeating: 0.70710678118654752))
    let erfAbs = F8(repeating: 1) - p * gauss
    let cdf = F8(repeating: 0.5) * (F8(repeating: 1) + erfAbs.replacing(with: -erfAbs, where: x .< 0))
    let pdf = gauss * F8(repeating: 0.3989422804014327)
    return cdf.addingProduct(x, pdf).replacing(with: 0, where: pdf .== 0 .& cdf .== 0)
}

/// SiLU (swish), x·σ(x), as `torch.nn.SiLU()`: CHELA's activation (after the short conv, on
/// V, Z and H). Where σ(x) rounds to 0 (x ≲ −88.7, e^{−x} = inf) the result is 0, the limit,
/// rather than x·0 = NaN at x = −inf.
@inline(__always) func silu8(_ x: F8) -> F8 {
    let s = F8(repeating: 1) / (F8(repeating: 1) + exp8(-x))
    return (x * s).replacing(with: 0, where: s .== 0)
}

/// d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x))), with 1 − σ(x) formed as e^{−x}·σ(x): no cancellation
/// for large x. The limits replace the 0·inf products: 0 at x = −inf, 1 at x = +inf.
@inline(__always) func siluGrad8(_ x: F8) -> F8 {
    let e = exp8(-x)
    let s = F8(repeating: 1) / (F8(repeating: 1) + e)
    let oneMinus = (e * s).replacing(with: 1, where: s .== 0)
    let xt = (x * oneMinus).replacing(with: 0, where: oneMinus .== 0)
    return s.addingProduct(s, xt).replacing(with: 0, where: s .== 0)
}

/// Apply an eight-lane function over n elements; the tail is padded into one vector so every
/// element goes through the same arithmetic.
@inline(__always) func map8(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ f: (F8) -> F8) {
    var i = 0
    while i + 8 <= n { store8(f(load8(x + i)), y + i); i += 8 }
    if i < n {
        var v = F8()
        for j in 0..<(n - i) { v[j] = x[i + j] }
        let r = f(v)
        for j in 0..<(n - i) { y[i + j] = r[j] }
    }
}

/// gx (+)= g·f′(x) over n elements, eight lanes at a time (the tail padded into one vector):
/// the backward of the elementwise ops whose derivative is an eight-lane function of x.
@inline(__always) func chainRule8(_ n: Int, _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                  _ gx: UnsafeMutablePointer<Float>, accumulate: Bool, _ derivative: (F8) -> F8) {
    var i = 0
    while i + 8 <= n {
        let d = load8(g + i) * derivative(load8(x + i))
        store8(accumulate ? load8(gx + i) + d : d, gx + i)
        i += 8
    }
    if i < n {
        var v = F8()
        for j in 0..<(n - i) { v[j] = x[i + j] }
        let d = derivative(v)
        for j in 0..<(n - i) { gx[i + j] = (accumulate ? gx[i + j] : 0) + g[i + j] * d[j] }
    }
}

public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
    let out = Tensor.empty(x.shape)
    let px = x.data, po = out.data
    Parallel.forEachChunk(x.count, grain: 1 << 14) { r in
        let n = r.count, xs = px + r.lowerBound, ys = po + r.lowerBound
        switch op {
        case .neg: for i in 0..<n { ys[i] = -xs[i] }
        case .exp: map8(n, xs, ys, exp8)
        case .log: for i in 0..<n { ys[i] = Foundation.logf(xs[i]) }
        case .tanh: for i in 0..<n { ys[i] = Foundation.tanhf(xs[i]) }
        case .sigmoid: map8(n, xs, ys) { F8(repeating: 1) / (F8(repeating: 1) + exp8(-$0)) }
        case .silu: map8(n, xs, ys, silu8)
        case .relu: for i in 0..<n { ys[i] = xs[i] > 0 ? xs[i] : 0 }
        case .gelu: map8(n, xs, ys, gelu8)
        case .square: for i in 0..<n { ys[i] = xs[i] * xs[i] }
        case .sqrt: for i in 0..<n { ys[i] = xs[i].squareRoot() }
        }
    }
    return out.record(op.rawValue, [x]) { out in
        let g = out.grad!.data, y = out.data
        // GELU and SiLU (the hot ones) store into a fresh gradient buffer; the others add into zeros.
        let (gx, accumulate) = x.gradBuffer()
        let stores = op == .gelu || op == .silu
        if !accumulate && !stores { gx.update(repeating: 0, count: x.count) }
        Parallel.forEachChunk(x.count, grain: 1 << 14) { r in
            let n = r.count, o = r.lowerBound
            switch op {
            case .neg: for i in r { gx[i] -= g[i] }
            case .exp: for i in r { gx[i] += g[i] * y[i] }
            case .log: for i in r { gx[i] += g[i] / px[i] }
            case .tanh: for i in r { gx[i] += g[i] * (1 - y[i] * y[i]) }
            case .sigmoid: for i in r { gx[i] += g[i] * y[i] * (1 - y[i]) }
            // NOTE: relu's sub-gradient at 0 is 0, as in PyTorch.
            case .relu: for i in r { gx[i] += px[i] > 0 ? g[i] : 0 }
            case .gelu: chainRule8(n, g + o, px + o, gx + o, accumulate: accumulate, geluGrad8)
            case .silu: chainRule8(n, g + o, px + o, gx + o, accumulate: accumulate, siluGrad8)
            case .square: for i in r { gx[i] += 2 * px[i] * g[i] }
            case .sqrt: for i in r { gx[i] += g[i] * 0.5 / y[i] }
            }
        }
    }
}

// MARK: - Operators and named forms

public func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
public func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
public func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
public func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
public func + (a: Tensor, b: Float) -> Tensor { binary(.add, a, .scalar(b)) }
public func - (a: Tensor, b: Float) -> Tensor { binary(.sub, a, .scalar(b)) }
public func * (a: Tensor, b: Float) -> Tensor { binary(.mul, a, .scalar(b)) }
public func / (a: Tensor, b: Float) -> Tensor { binary(.mul, a, .scalar(1 / b)) }
public func * (a: Float, b: Tensor) -> Tensor { binary(.mul, .scalar(a), b) }
public func + (a: Float, b: Tensor) -> Tensor { binary(.add, .scalar(a), b) }
public func - (a: Float, b: Tensor) -> Tensor { binary(.sub, .scalar(a), b) }
public prefix func - (a: Tensor) -> Tensor { unary(.neg, a) }

public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.minimum, a, b) }
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.maximum, a, b) }

extension Tensor {
    public func exp() -> Tensor { unary(.exp, self) }
    public func log() -> Tensor { unary(.log, self) }
    public func tanh() -> Tensor { unary(.tanh, self) }
    public func sigmoid() -> Tensor { unary(.sigmoid, self) }
    public func silu() -> Tensor { unary(.silu, self) }
    public func relu() -> Tensor { unary(.relu, self) }
    public func gelu() -> Tensor { unary(.gelu, self) }
    public func square() -> Tensor { unary(.square, self) }
    public func sqrt() -> Tensor { unary(.sqrt, self) }
}
