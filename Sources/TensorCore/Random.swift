import Foundation

/// The project's seeded random number generator: xoshiro256** seeded through SplitMix64.
///
/// Owned here, not taken from the platform, so that a seed means the same stream on every
/// machine and the state can be saved in a checkpoint and restored exactly.
/// ```swift
/// var rng = RNG(seed: 1337)
/// let i = rng.nextInt(below: 10)
/// ```
public struct RNG: RandomNumberGenerator, Equatable, Sendable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)
    /// Box-Muller makes normals in pairs; the second one waits here.
    private var spareNormal: Float?

    public init(seed: UInt64) {
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// The full state (4 words plus the pending normal, encoded), for checkpoints.
    public var stateWords: [UInt64] {
        [state.0, state.1, state.2, state.3, spareNormal.map { UInt64($0.bitPattern) | (1 << 32) } ?? 0]
    }

    public init(stateWords w: [UInt64]) {
        precondition(w.count == 5, "RNG state needs 5 words, got \(w.count)")
        state = (w[0], w[1], w[2], w[3])
        spareNormal = w[4] & (1 << 32) != 0 ? Float(bitPattern: UInt32(truncatingIfNeeded: w[4])) : nil
    }

    public static func == (a: RNG, b: RNG) -> Bool { a.stateWords == b.stateWords }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits (every float32 in the grid is reachable).
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform integer in 0..<n, without modulo bias (Lemire's method).
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below:) needs n > 0")
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Standard normal by Box-Muller, computed in Double so the tails are right.
    public mutating func nextNormal() -> Float {
        if let s = spareNormal { spareNormal = nil; return s }
        var u1 = nextDouble()
        while u1 <= 0 { u1 = nextDouble() }
        let u2 = nextDouble()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spareNormal = Float(r * Foundation.sin(2 * Double.pi * u2))
        return Float(r * Foundation.cos(2 * Double.pi * u2))
    }

    public mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        for i in 0..<count { p[i] = nextNormal() * std }
    }
}
