import Foundation

// Float64 references for the exactness section: three ways to compute causal linear attention
// and two ways to compute a causal convolution, each from its definition. One sequence at a time,
// row-major (L, d).

/// O = tril(QKᵀ)·V, every q_t·k_s formed (O(L²)).
public func quadraticLinearAttention64(_ q: [Double], _ k: [Double], _ v: [Double], l: Int, d: Int, dv: Int) -> [Double] {
    var o = [Double](repeating: 0, count: l * dv)
    for t in 0..<l {
        for s in 0...t {
            var a = 0.0
            for j in 0..<d { a += q[t * d + j] * k[s * d + j] }
            for j in 0..<dv { o[t * dv + j] += a * v[s * dv + j] }
        }
    }
    return o
}

/// The token recurrence: S_t = S_{t−1} + k_t v_tᵀ, o_t = q_t·S_t (the RNN view).
public func recurrentLinearAttention64(_ q: [Double], _ k: [Double], _ v: [Double], l: Int, d: Int, dv: Int) -> [Double] {
    var state = [Double](repeating: 0, count: d * dv), o = [Double](repeating: 0, count: l * dv)
    for t in 0..<l {
        for i in 0..<d { for j in 0..<dv { state[i * dv + j] += k[t * d + i] * v[t * dv + j] } }
        for i in 0..<d { for j in 0..<dv { o[t * dv + j] += q[t * d + i] * state[i * dv + j] } }
    }
    return o
}

/// The tiled form: O_i = tril(Q_i K_iᵀ)V_i + Q_i S_{i−1}, S_i = S_{i−1} + K_iᵀV_i, chunks of C rows.
public func chunkedLinearAttention64(_ q: [Double], _ k: [Double], _ v: [Double], l: Int, d: Int, dv: Int, chunk: Int) -> [Double] {
    var state = [Double](repeating: 0, count: d * dv), o = [Double](repeating: 0, count: l * dv)
    var r0 = 0
    while r0 < l {
        let r1 = Swift.min(l, r0 + chunk)
        for t in r0..<r1 {
            for i in 0..<d { for j in 0..<dv { o[t * dv + j] += q[t * d + i] * state[i * dv + j] } }
            for s in r0...t {
                var a = 0.0
                for j in 0..<d { a += q[t * d + j] * k[s * d + j] }
                for j in 0..<dv { o[t * dv + j] += a * v[s * dv + j] }
            }
        }
        for t in r0..<r1 { for i in 0..<d { for j in 0..<dv { state[i * dv + j] += k[t * d + i] * v[t * dv + j] } } }
        r0 = r1
    }
    return o
}

/// y_t = Σ_{s≤t} kernel[s]·x[t − s], summed directly.
public func directCausalConv64(_ x: [Double], kernel: [Double]) -> [Double] {
    (0..<x.count).map { t in (0...t).reduce(0.0) { $0 + ($1 < kernel.count ? kernel[$1] * x[t - $1] : 0) } }
}

/// The FFT route in float64 without an FFT library: zero-pad both to N = 2L, multiply their
/// discrete Fourier transforms (each summed directly, O(N²), twiddles from the exact angle of
/// j·k mod N), transform back, keep the first L: the circular convolution of the padded rows
/// equals the linear one there. It checks the algorithm `causalLongConv` runs through FFTW.
public func spectralCausalConv64(_ x: [Double], kernel: [Double]) -> [Double] {
    let l = x.count, n = 2 * l
    let cosines = (0..<n).map { Foundation.cos(2 * Double.pi * Double($0) / Double(n)) }
    let sines = (0..<n).map { Foundation.sin(2 * Double.pi * Double($0) / Double(n)) }
    func dft(_ a: [Double]) -> (re: [Double], im: [Double]) {
        var re = [Double](repeating: 0, count: n), im = [Double](repeating: 0, count: n)
        for f in 0..<n {
            for (t, v) in a.enumerated() where v != 0 { let w = (f * t) % n; re[f] += v * cosines[w]; im[f] -= v * sines[w] }
        }
        return (re, im)
    }
    let fx = dft(x), fk = dft(Array(kernel.prefix(l)))
    let re = (0..<n).map { fx.re[$0] * fk.re[$0] - fx.im[$0] * fk.im[$0] }
    let im = (0..<n).map { fx.re[$0] * fk.im[$0] + fx.im[$0] * fk.re[$0] }
    return (0..<l).map { t in
        var s = 0.0
        for f in 0..<n { let w = (f * t) % n; s += re[f] * cosines[w] - im[f] * sines[w] }
        return s / Double(n)
    }
}
