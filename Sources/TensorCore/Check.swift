import Foundation

/// How far apart two arrays are, with the worst element, for test messages.
public struct Closeness: CustomStringConvertible, Sendable {
    public let maxAbs: Double
    public let maxRel: Double
    public let worstIndex: Int
    public let pairs: [(Double, Double)]   // first few (expected, actual)
    public let ok: Bool
    public let atol: Double, rtol: Double

    public var description: String {
        let shown = pairs.prefix(5).map { String(format: "(%.6g, %.6g)", $0.0, $0.1) }.joined(separator: " ")
        return String(format: "%@ max|Δ| %.3g, max rel %.3g at index %d (atol %.1g, rtol %.1g); first pairs (expected, actual): %@",
                      ok ? "OK" : "NOT OK", maxAbs, maxRel, worstIndex, atol, rtol, shown)
    }
}

/// |actual − expected| ≤ atol + rtol·|expected| element-wise (the `np.isclose` rule); NaN
/// matches only NaN and infinities only the same infinity.
public func closeness(_ actual: [Float], _ expected: [Double], atol: Double, rtol: Double) -> Closeness {
    precondition(actual.count == expected.count, "closeness: \(actual.count) vs \(expected.count) elements")
    var maxAbs = 0.0, maxRel = 0.0, worst = 0, ok = true, worstExcess = -Double.infinity
    for i in 0..<actual.count {
        let a = Double(actual[i]), e = expected[i]
        if a.isNaN || e.isNaN || a.isInfinite || e.isInfinite {
            let same = (a.isNaN && e.isNaN) || a == e
            if !same { ok = false; worst = i; maxAbs = .infinity }
            continue
        }
        let d = abs(a - e)
        let excess = d - (atol + rtol * abs(e))
        if excess > 0 { ok = false }
        if excess > worstExcess { worstExcess = excess; worst = i }
        maxAbs = Swift.max(maxAbs, d)
        if e != 0 { maxRel = Swift.max(maxRel, d / abs(e)) }
    }
    let pairs = (0..<Swift.min(5, actual.count)).map { (expected[$0], Double(actual[$0])) }
    return Closeness(maxAbs: maxAbs, maxRel: maxRel, worstIndex: worst, pairs: pairs, ok: ok, atol: atol, rtol: rtol)
}

public func closeness(_ actual: [Float], _ expected: [Float], atol: Double, rtol: Double) -> Closeness {
    closeness(actual, expected.map(Double.init), atol: atol, rtol: rtol)
}

/// Result of comparing an op's backward rule with central finite differences.
public struct GradCheckResult: CustomStringConvertible {
    public let perInput: [Closeness]
    public var ok: Bool { perInput.allSatisfy(\.ok) }
    public var description: String {
        perInput.enumerated().map { "input \($0.offset): \($0.element)" }.joined(separator: "\n")
    }
}

/// Check the gradients of `f` at `inputs` against central differences.
///
/// The scalar probed is L = Σ_i f(x)_i·r_i with fixed random weights r (summed in Double), so
/// every output element is tested, not just their sum. The analytic gradient comes from
/// `backward(seed: r)` alone, so the rule under test is the only rule involved. In float32
/// use eps ≈ 1e-2 for O(1) inputs: much smaller steps drown in rounding (a test shows the
/// checker failing at eps = 1e-5).
public func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 1e-3, rtol: Double = 1e-2,
                      seed: UInt64 = 7, _ f: ([Tensor]) -> Tensor) -> GradCheckResult {
    for x in inputs { x.requiresGrad = true; x.zeroGrad() }
    let out = f(inputs)
    var rng = RNG(seed: seed)
    let r = (0..<out.count).map { _ in rng.nextFloat() * 2 - 1 }
    out.backward(seed: r)
    func probe() -> Double {
        let y = noGrad { f(inputs) }
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r[i]) }
        return s
    }
    var results: [Closeness] = []
    for x in inputs {
        let analytic = x.grad?.toArray() ?? [Float](repeating: 0, count: x.count)
        var numeric = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let saved = x.data[i]
            x.data[i] = saved + eps
            let up = probe()
            x.data[i] = saved - eps
            let down = probe()
            x.data[i] = saved
            numeric[i] = (up - down) / (2 * Double(eps))
        }
        results.append(closeness(analytic, numeric, atol: atol, rtol: rtol))
    }
    return GradCheckResult(perInput: results)
}
