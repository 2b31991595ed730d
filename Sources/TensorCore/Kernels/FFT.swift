import CFFTW
import Foundation

/// Real FFTs of one length n through single-precision FFTW, for the FFT long convolution.
///
/// `forward` maps n reals to the n/2 + 1 complex numbers of the half spectrum (interleaved re,
/// im); `inverse` maps them back, unnormalised (inverse(forward(x)) = n·x), and overwrites its
/// input spectrum (FFTW's c2r default). Plans are made once per length, under a lock (FFTW's
/// planner is not thread-safe), with FFTW_ESTIMATE: no timing runs, so the plan and therefore
/// every result is the same run to run. They are executed on the caller's arrays through the
/// new-array interface, which is thread-safe; those arrays must be 64-byte aligned like the
/// planner's (Buffer's are, and rows `rowStride` floats apart keep it).
struct RealFFT: @unchecked Sendable {
    let n: Int
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    /// Floats from one row to the next, for real rows (n) and spectra (n + 2) alike: rounded
    /// up to 16 floats so every row starts 64-byte aligned.
    var rowStride: Int { (n + 2 + 15) / 16 * 16 }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var plans: [Int: RealFFT] = [:]

    /// The cached plans for length n (made on first use).
    static func plan(_ n: Int) -> RealFFT {
        precondition(n >= 1, "FFT length must be positive, got \(n)")
        lock.lock(); defer { lock.unlock() }
        if let p = plans[n] { return p }
        let stride = (n + 2 + 15) / 16 * 16
        let scratch = Buffer(count: 2 * stride)   // only its alignment matters to the planner
        let real = scratch.pointer, spectrum = scratch.pointer + stride
        let flags = cfftw_estimate()
        guard let f = fftwf_plan_dft_r2c_1d(Int32(n), real, complexPointer(spectrum), flags),
              let i = fftwf_plan_dft_c2r_1d(Int32(n), complexPointer(spectrum), real, flags) else {
            fatalError("FFTW could not plan a real FFT of length \(n)")
        }
        let p = RealFFT(n: n, forwardPlan: f, inversePlan: i)
        plans[n] = p
        return p
    }

    /// The smallest even length ≥ m whose factors are only 2, 3, 5 and 7: FFTW has codelets for
    /// those, while a large prime factor would fall back to a much slower algorithm.
    static func goodLength(atLeast m: Int) -> Int {
        var best = Int.max
        var p2 = 2
        while true {
            var p3 = p2
            while true {
                var p5 = p3
                while true {
                    var p7 = p5
                    while p7 < m { p7 *= 7 }
                    best = Swift.min(best, p7)
                    if p5 >= m { break }
                    p5 *= 5
                }
                if p3 >= m { break }
                p3 *= 3
            }
            if p2 >= m { break }
            p2 *= 2
        }
        return best
    }

    /// spectrum (n/2 + 1 complex) ← FFT of x (n reals); x is left unchanged.
    @inline(__always) func forward(_ x: UnsafeMutablePointer<Float>, _ spectrum: UnsafeMutablePointer<Float>) {
        fftwf_execute_dft_r2c(forwardPlan, x, complexPointer(spectrum))
    }

    /// x (n reals) ← n · inverse FFT of spectrum; the spectrum is overwritten.
    @inline(__always) func inverse(_ spectrum: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        fftwf_execute_dft_c2r(inversePlan, complexPointer(spectrum), x)
    }
}

@inline(__always) private func complexPointer(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<fftwf_complex> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: fftwf_complex.self)
}

/// a[i] ← a[i]·b[i], or a[i]·conj(b[i]), over `count` interleaved complex numbers, four per
/// eight-lane vector (even lanes real, odd lanes imaginary).
@inline(__always) func multiplySpectra(_ a: UnsafeMutablePointer<Float>, by b: UnsafePointer<Float>, _ count: Int,
                                       conjugate: Bool) {
    let sign: Float = conjugate ? -1 : 1
    var i = 0
    while i + 4 <= count {
        let x = load8(a + 2 * i), y = load8(b + 2 * i)
        let (re, im) = complexProduct(x.evenHalf, x.oddHalf, y.evenHalf, SIMD4(repeating: sign) * y.oddHalf)
        var r = F8()
        r.evenHalf = re; r.oddHalf = im
        store8(r, a + 2 * i)
        i += 4
    }
    while i < count {
        let ar = a[2 * i], ai = a[2 * i + 1], br = b[2 * i], bi = sign * b[2 * i + 1]
        a[2 * i] = ar * br - ai * bi
        a[2 * i + 1] = ar * bi + ai * br
        i += 1
    }
}

/// acc[i] += a[i]·conj(b[i]) over `count` interleaved complex numbers (a cross-correlation's spectrum).
@inline(__always) func accumulateCorrelation(_ acc: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                                             _ b: UnsafePointer<Float>, _ count: Int) {
    var i = 0
    while i + 4 <= count {
        let x = load8(a + 2 * i), y = load8(b + 2 * i)
        let (re, im) = complexProduct(x.evenHalf, x.oddHalf, y.evenHalf, -y.oddHalf)
        var r = F8()
        r.evenHalf = re; r.oddHalf = im
        store8(load8(acc + 2 * i) + r, acc + 2 * i)
        i += 4
    }
    while i < count {
        let ar = a[2 * i], ai = a[2 * i + 1], br = b[2 * i], bi = b[2 * i + 1]
        acc[2 * i] += ar * br + ai * bi
        acc[2 * i + 1] += ai * br - ar * bi
        i += 1
    }
}

/// (ar + i·ai)(br + i·bi), four lanes.
@inline(__always) private func complexProduct(_ ar: SIMD4<Float>, _ ai: SIMD4<Float>, _ br: SIMD4<Float>,
                                              _ bi: SIMD4<Float>) -> (SIMD4<Float>, SIMD4<Float>) {
    (ar * br - ai * bi, ar * bi + ai * br)
}
