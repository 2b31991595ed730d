import Foundation

public typealias F8 = SIMD8<Float>

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always) func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// Σ a[i]·b[i] with eight-lane FMA accumulators (two, to hide FMA latency).
@inline(__always) public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = F8(), acc1 = F8()
    var i = 0
    while i + 16 <= n {
        acc0.addProduct(load8(a + i), load8(b + i))
        acc1.addProduct(load8(a + i + 8), load8(b + i + 8))
        i += 16
    }
    if i + 8 <= n { acc0.addProduct(load8(a + i), load8(b + i)); i += 8 }
    var s = (acc0 + acc1).sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y[i] += alpha·x[i].
@inline(__always) public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let va = F8(repeating: alpha)
    var i = 0
    while i + 8 <= n { store8(load8(y + i).addingProduct(va, load8(x + i)), y + i); i += 8 }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}

/// y[i] += x[i].
@inline(__always) public func addInto(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n { store8(load8(y + i) + load8(x + i), y + i); i += 8 }
    while i < n { y[i] += x[i]; i += 1 }
}

/// e^x for eight lanes: x = k·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7 polynomial, 2^k by
/// building the exponent bits. Relative error ≈ 2 ulp over the float range; inputs below
/// -87.3 give 0 (so exp(-inf) = 0 as softmax masking needs), above 88.7 give +inf.
@inline(__always) public func exp8(_ x: F8) -> F8 {
    let hi = F8(repeating: 88.72283), lo = F8(repeating: -87.33654)
    let xc = x.replacing(with: hi, where: x .> hi).replacing(with: lo, where: x .< lo)
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits:
    // the generic SIMD float→int conversion and `rounded` are scalarised and ~10x slower.
    let magic = F8(repeating: 12_582_912)
    let shifted = magic.addingProduct(xc, F8(repeating: 1.442695041))
    let k = shifted - magic
    // Cody-Waite split of ln 2 keeps r exact to ~1 ulp.
    var r = xc.addingProduct(k, F8(repeating: -0.693359375))
    r = r.addingProduct(k, F8(repeating: 2.12194440e-4))
    // Horner form of the Taylor series of e^r to degree 7 (truncation < 1e-8 for |r| ≤ ln2/2).
    var p = F8(repeating: 1.0 / 5040)
    p = F8(repeating: 1.0 / 720).addingProduct(p, r)
    p = F8(repeating: 1.0 / 120).addingProduct(p, r)
    p = F8(repeating: 1.0 / 24).addingProduct(p, r)
    p = F8(repeating: 1.0 / 6).addingProduct(p, r)
    p = F8(repeating: 0.5).addingProduct(p, r)
    p = F8(repeating: 1).addingProduct(p, r)
    p = F8(repeating: 1).addingProduct(p, r)
    let ki = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    // 2^k split as 2^(k/2)·2^(k-k/2) so k = 128 (x near 88.7) does not overflow the exponent.
    let k1 = ki &>> 1, k2 = ki &- k1
    let s1 = unsafeBitCast((k1 &+ 127) &<< 23, to: F8.self)
    let s2 = unsafeBitCast((k2 &+ 127) &<< 23, to: F8.self)
    var y = p * s1 * s2
    y.replace(with: F8(repeating: 0), where: x .< lo)
    y.replace(with: F8(repeating: .infinity), where: x .> hi)
    y.replace(with: x, where: x .!= x)  // NaN stays NaN
    return y
}

/// Scalar e^x through the same polynomial, so vector bodies and scalar tails agree bit for bit.
@inline(__always) public func expf8(_ x: Float) -> Float { exp8(F8(repeating: x))[0] }

/// erf(x) by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd-extended.
@inline(__always) public func erf8(_ x: F8) -> F8 {
    let (p, e) = erfTerms8(x)
    let y = F8(repeating: 1) - p * e
    return y.replacing(with: -y, where: x .< 0)
}

/// The two factors of A&S 7.1.26, erf(|x|) = 1 − P(t)·e^{−x²} with t = 1/(1 + 0.3275911·|x|):
/// returns (P(t), e^{−x²}). GELU's backward reuses e^{−x²} for the normal density.
@inline(__always) func erfTerms8(_ x: F8) -> (poly: F8, gauss: F8) {
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x7FFF_FFFF), to: F8.self)
    let t = F8(repeating: 1) / F8(repeating: 1).addingProduct(F8(repeating: 0.3275911), ax)
    var p = F8(repeating: 1.061405429)
    p = F8(repeating: -1.453152027).addingProduct(p, t)
    p = F8(repeating: 1.421413741).addingProduct(p, t)
    p = F8(repeating: -0.284496736).addingProduct(p, t)
    p = F8(repeating: 0.254829592).addingProduct(p, t)
    return (p * t, exp8(-ax * ax))
}
